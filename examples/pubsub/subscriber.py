"""A subscriber (Python aiomsg 2026.7.1): prints COUNT JSON ticks and exits.

    python subscriber.py NAME [PORT=25000] [COUNT=5]
"""
import asyncio
import json
import sys

from aiomsg import Søcket


async def main(name, port, count):
    sock = Søcket()
    await sock.connect("127.0.0.1", port)
    for _ in range(count):
        tick = json.loads(await sock.recv())
        print(f"{name} seq={tick['seq']} price={tick['price']}", flush=True)
    await sock.close()


args = sys.argv[1:]
asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 25000, int(args[2]) if len(args) > 2 else 5))
