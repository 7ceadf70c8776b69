"""A producer (Python aiomsg 2026.7.1) that binds and sends COUNT messages.
Messages sent before the collector connects wait in the socket.

    python producer.py NAME PORT COUNT
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(name, port, count):
    sock = Søcket()
    await sock.bind("127.0.0.1", port)
    for i in range(count):
        await sock.send(f"{name}-{i}".encode())
    print(f"{name}: queued {count} messages", flush=True)
    await asyncio.Event().wait()  # keep serving until stopped


asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
