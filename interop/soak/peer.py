#!/usr/bin/env python3
"""A long-lived real Python aiomsg peer for the soak run and the reliability tests.

It uses only the public ``Søcket`` API of whatever aiomsg release the interpreter
has (the soak and the tests run it on 2026.7.1, the v1 wire), so every byte on
the wire is the library's own. One line per fact goes to stdout, flushed at once
so that a SIGKILL loses nothing already printed:

    READY <port>        bind/connect returned (bind: the port actually bound)
    R <payload>         a received payload (UTF-8, backslash-escaped if not)
    S <n>               the source has handed its n-th message (1-based) to send()

Options (all optional except --role):
    --role bind|connect --host H --port P     where to bind / connect
    --delivery at-most-once|at-least-once     the socket's delivery guarantee
    --identity HEX                            16-byte identity (32 hex chars)
    --print-recv                              print "R <payload>" for each message
    --echo                                    send each message back to its sender
    --source-prefix P --source-count N        send P0, P1, ... (N=0: forever)
    --source-interval S                       seconds between two sends
    --print-sent                              print "S <n>" after each send()
    --heartbeat-interval S --heartbeat-timeout S
        Test knob: the library hard-codes 5 s / 15 s per connection; these set the
        same two attributes on each new connection object (no wire change), so a
        test can run liveness at sub-second scale.
"""

import argparse
import asyncio
import sys

import aiomsg


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--role", choices=["bind", "connect"], required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delivery", choices=["at-most-once", "at-least-once"], default="at-most-once")
    p.add_argument("--identity", default=None)
    p.add_argument("--print-recv", action="store_true")
    p.add_argument("--echo", action="store_true")
    p.add_argument("--source-prefix", default=None)
    p.add_argument("--source-count", type=int, default=0)
    p.add_argument("--source-interval", type=float, default=0.01)
    p.add_argument("--print-sent", action="store_true")
    p.add_argument("--heartbeat-interval", type=float, default=None)
    p.add_argument("--heartbeat-timeout", type=float, default=None)
    return p.parse_args(argv)


def patch_heartbeats(interval, timeout) -> None:
    if interval is None and timeout is None:
        return
    original_init = aiomsg.Connection.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if interval is not None:
            self.heartbeat_interval = interval
        if timeout is not None:
            self.heartbeat_timeout = timeout

    aiomsg.Connection.__init__ = init


async def source(sock, args) -> None:
    i = 0
    while args.source_count <= 0 or i < args.source_count:
        await sock.send(f"{args.source_prefix}{i}".encode())
        i += 1
        if args.print_sent:
            out(f"S {i}")
        await asyncio.sleep(args.source_interval)


async def receive(sock, args) -> None:
    while True:
        identity, payload = await sock.recv_identity()
        if args.print_recv:
            out("R " + payload.decode("utf-8", "backslashreplace"))
        if args.echo:
            await sock.send(payload, identity=identity)


async def run(args) -> None:
    patch_heartbeats(args.heartbeat_interval, args.heartbeat_timeout)
    delivery = (
        aiomsg.DeliveryGuarantee.AT_LEAST_ONCE
        if args.delivery == "at-least-once"
        else aiomsg.DeliveryGuarantee.AT_MOST_ONCE
    )
    identity = bytes.fromhex(args.identity) if args.identity else None
    sock = aiomsg.Søcket(delivery_guarantee=delivery, identity=identity)
    if args.role == "bind":
        await sock.bind(args.host, args.port)
        port = sock.server.sockets[0].getsockname()[1]
    else:
        await sock.connect(args.host, args.port)
        port = args.port
    out(f"READY {port}")
    tasks = [asyncio.ensure_future(receive(sock, args))]
    if args.source_prefix is not None:
        tasks.append(asyncio.ensure_future(source(sock, args)))
    # Runs until killed: the soak and the tests end it with SIGKILL or SIGTERM.
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    try:
        asyncio.run(run(parse_args(sys.argv[1:])))
    except KeyboardInterrupt:
        pass
