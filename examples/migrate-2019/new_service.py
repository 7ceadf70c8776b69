"""A service already on aiomsg 2026.7.1 (v1 wire): answers every message that
reaches it through the bridge. Runs until stopped.

    python new_service.py [PORT=25000]
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(port):
    sock = Søcket()
    await sock.connect("127.0.0.1", port)
    async for msg in sock.messages():
        await sock.send(f"new service answers {msg.decode()}".encode())


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 25000))
