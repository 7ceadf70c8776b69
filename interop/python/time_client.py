#!/usr/bin/env python3
"""The Python half of the cross-language time-server demo (interop/demo.mjs):
a plain aiomsg 2026.7.1 socket that connects and prints every message it gets.

    python time_client.py --host 127.0.0.1 --port 25000
"""
import argparse
import asyncio
import sys

import aiomsg


async def main(host: str, port: int) -> None:
    sock = aiomsg.Søcket()
    await sock.connect(host, port)
    print(f"time_client: connected to {host}:{port}", file=sys.stderr, flush=True)
    async for msg in sock.messages():
        print(msg.decode(), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=25000)
    args = p.parse_args()
    try:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        pass
