"""A Python aiomsg 2026.7.1 client behind a token gate.

aiomsg has no per-connection hook, so a token sent once at start would be
missing after a reconnect. Here the server asks ("token?") on every new
connection, and the client answers from its receive loop: it re-authenticates
after each reconnect. Prints every other message; sends one "hello" and exits
after COUNT messages (or after SECONDS). Asked three times in a row with
nothing in between, it was refused: it says so and exits 1 (aiomsg redials
at once after a closed connection, so it would otherwise knock all day).

    python client.py TOKEN [PORT=25000] [COUNT=4] [SECONDS=10]
"""
import asyncio
import sys

from aiomsg import Søcket


async def main(token, port, count, seconds):
    sock = Søcket()
    await sock.connect("127.0.0.1", port)
    got = 0
    asked = 0
    said_hello = False

    async def receive():
        nonlocal got, asked, said_hello
        async for sender, msg in sock.identity_messages():
            if msg == b"token?":
                asked += 1
                if asked > 3:
                    return False
                # Answer the gate, to the peer that asked, on this connection.
                await sock.send(f"token {token}".encode(), identity=sender)
                if not said_hello:
                    said_hello = True
                    await sock.send(b"hello", identity=sender)
                continue
            asked = 0
            print(msg.decode(), flush=True)
            got += 1
            if got >= count:
                return True

    admitted = True
    try:
        admitted = await asyncio.wait_for(receive(), seconds)
    except asyncio.TimeoutError:
        print(f"client: stopped after {seconds} s", flush=True)
    await sock.close()
    if not admitted:
        print("client: refused (asked for the token 3 times in a row)", flush=True)
        sys.exit(1)


args = sys.argv[1:]
asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 25000,
                 int(args[2]) if len(args) > 2 else 4, float(args[3]) if len(args) > 3 else 10))
