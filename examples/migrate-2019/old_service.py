"""A service still on aiomsg 2019.12.3 (legacy wire): sends COUNT requests
through the bridge and prints the answers of the new generation.

    python old_service.py [PORT=25000] [COUNT=3]
"""
import asyncio
import sys

import aiomsg

# aiomsg 2019.12.3 passes loop= to asyncio.open_connection, which Python 3.10
# removed: drop that argument (no byte on the wire changes). Not needed on 3.9.
if sys.version_info >= (3, 10):
    _open_connection = asyncio.open_connection

    async def _open_connection_without_loop(*args, loop=None, **kwargs):
        return await _open_connection(*args, **kwargs)

    asyncio.open_connection = _open_connection_without_loop


async def main(port, count):
    sock = aiomsg.Søcket()
    await sock.connect("127.0.0.1", port)
    for i in range(count):
        await sock.send(f"old-{i}".encode())
    for _ in range(count):
        print(f"old service got: {(await sock.recv()).decode()}", flush=True)
    await sock.close()


args = sys.argv[1:]
asyncio.run(main(int(args[0]) if args else 25000, int(args[1]) if len(args) > 1 else 3))
