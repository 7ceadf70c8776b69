"""The job source (Python aiomsg 2026.7.1): binds and round-robins COUNT jobs
among the proxies connected to it, then keeps serving.

    python jobs.py PORT COUNT PROXIES
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(port, count, proxies):
    sock = Søcket()
    await sock.bind("127.0.0.1", port)
    # Round-robin spreads over the peers connected at the time: wait for them all.
    while len(sock._connections) < proxies:  # aiomsg has no public peer count
        await asyncio.sleep(0.05)
    for i in range(count):
        await sock.send(f"job-{i}".encode())
    print(f"jobs: sent {count}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main(*map(int, sys.argv[1:4])))
