"""A Python aiomsg replica of the fleet test: a bind end on 0.0.0.0:<port> in its
own namespace, on the real aiomsg from PyPI, printing every message it receives
("g <payload>"). On SIGTERM it closes its socket and exits (Python aiomsg has no
drain: the fleet removes it from DNS and waits until connect ends have drained
it before the SIGTERM, as a Kubernetes preStop hook would)."""

import asyncio
import json
import signal
import sys

from aiomsg import Søcket


async def main(port: int) -> None:
    sock = Søcket()
    await sock.bind("0.0.0.0", port)
    print(json.dumps({"ev": "ready", "port": port}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def receive() -> None:
        async for msg in sock.messages():
            sys.stdout.write("g " + msg.decode() + "\n")
            sys.stdout.flush()

    task = asyncio.create_task(receive())
    await stop.wait()
    await sock.close()
    task.cancel()
    print(json.dumps({"ev": "closed"}), flush=True)


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 25000))
