"""A worker in the pool (Python aiomsg 2026.7.1): prints each job it is given.

    python worker.py NAME [PORT=25000]
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(name, port):
    sock = Søcket()
    await sock.connect("127.0.0.1", port)
    async for job in sock.messages():
        print(f"{name} {job.decode()}", flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25000))
