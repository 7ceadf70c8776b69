"""Sends arbitrary payloads (hex on the command line) through real Python aiomsg.

usage: py_send.py PORT HEX... : connects to 127.0.0.1:PORT, sends each payload,
waits until a peer was connected and a moment for the writes, and exits.
"""
import asyncio
import sys

import aiomsg


async def main(port, payloads):
    sock = aiomsg.Søcket()
    await sock.connect("127.0.0.1", port)
    for p in payloads:
        await sock.send(p)
    # Sends are buffered until the peer connects; give the flush time to happen.
    for _ in range(100):
        if sock._connections:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    await sock.close()


asyncio.run(main(int(sys.argv[1]), [bytes.fromhex(h) for h in sys.argv[2:]]))
