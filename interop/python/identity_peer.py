"""A real Python aiomsg peer with an identity of any length (what 2019.12.3 accepts).

usage: identity_peer.py PORT IDENTITY_HEX : connects to 127.0.0.1:PORT with that
identity, sends b"hello", prints the first payload it receives (UTF-8) and the
identity it came from (hex), then exits. Diagnostics go to stderr.
"""
import asyncio
import os
import sys

import aiomsg

# agent.py installs, on import, the shims that let pre-2020 releases run on
# Python 3.11 (the removed loop= arguments); nothing on the wire changes.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent  # noqa: E402,F401


async def main(port, identity):
    sock = aiomsg.Søcket(identity=identity)
    await sock.connect("127.0.0.1", port)
    await sock.send(b"hello")
    sender, payload = await asyncio.wait_for(sock.recv_identity(), 20)
    sender = sender.hex() if isinstance(sender, (bytes, bytearray)) else sender.encode().hex()
    print(f"{payload.decode()} {sender}", flush=True)
    await sock.close()


asyncio.run(main(int(sys.argv[1]), bytes.fromhex(sys.argv[2])))
