"""A mutual TLS client (Python aiomsg 2026.7.1): verifies the server against
the CA and presents its own certificate.

    python client.py CERT_DIR [PORT=25000] [COUNT=3]
"""
import asyncio
import os
import ssl
import sys

from aiomsg import Søcket


async def main(certs, port, count):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.path.join(certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(certs, "client.pem"), os.path.join(certs, "client.key"))
    sock = Søcket()
    await sock.connect("127.0.0.1", port, ssl_context=ctx)
    for i in range(count):
        await sock.send(f"hello {i} over mutual TLS".encode())
    await asyncio.Event().wait()  # stay connected until stopped


args = sys.argv[1:]
asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 25000, int(args[2]) if len(args) > 2 else 3))
