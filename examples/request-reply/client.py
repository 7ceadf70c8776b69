"""A client (Python aiomsg 2026.7.1): sends COUNT requests, prints each reply.
Only its own replies come back, even with other clients connected.

    python client.py NAME [PORT=25000] [COUNT=3]
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(name, port, count):
    sock = Søcket()
    await sock.connect("127.0.0.1", port)
    print(f"{name} identity {sock.identity.hex()[:8]}", flush=True)
    for i in range(count):
        await sock.send(f"{name} request {i}".encode())
        reply = await sock.recv()
        print(f"{name} got {reply.decode()}", flush=True)
    await sock.close()


args = sys.argv[1:]
asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 25000, int(args[2]) if len(args) > 2 else 3))
