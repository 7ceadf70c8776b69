#!/usr/bin/env python3
"""aiomsg conformance agent on the real Python aiomsg library.

Implements the "Conformance agent CLI contract" of docs/protocol.md on top of
whatever aiomsg release the running interpreter has installed: 2026.7.1 (wire v1),
2019.5.2 to 2019.12.3 (wire legacy) or 2018.8.1 to 2019.5.0 (the early wire). All
traffic goes through the library's public Søcket (SmartSocket) API, so the bytes on
the wire are exactly what that release sends.

stdout carries only the sink's payload lines; everything else goes to stderr,
including machine-readable progress lines of the form ``EVENT <name> [args]``:

    EVENT ready <port>              bind/connect returned (bind: listening on <port>)
    EVENT peer-connected <hex>      a peer finished the handshake
    EVENT peer-disconnected <hex>   that peer's connection is gone
    EVENT sent <n>                  a source/request queued its n-th (last) message
    EVENT done                      the behaviour finished; closing down

A sink with ``--count 0`` exits at once (the contract); ``--forever true`` keeps a
sink (or requester) printing until it is killed.

Extensions to the contract (all optional, used by the interop harness):
    --forever true      sink/request: print received payloads until killed
    --ports p1,p2,...   bind on / connect to every listed port with one socket
    --wait-peers N      source/request: wait until N peers are connected before
                        the first send (needed for publish / round-robin shares)
    --interval S        source/request: pause S seconds between sends
    --pause-after K --pause S
                        source/request: stay silent S seconds after the K-th send
    --behavior request  send prefix+i like a source AND print received payloads
                        like a sink; exits after `count` received
    --log-level LEVEL   Python logging level for aiomsg's own logs (stderr)
    --retries N         pass retries=N to every send() (Python's per-send retry
                        count; releases whose send() has no such argument exit 4)
"""

import argparse
import asyncio
import importlib.metadata
import inspect
import logging
import ssl
import sys

import aiomsg

AIOMSG_VERSION = importlib.metadata.version("aiomsg")


def _install_open_connection_shim() -> None:
    """aiomsg 2019.12.3 calls ``asyncio.open_connection(host, port, loop=self.loop,
    ssl=ctx)``; Python 3.10 removed the ``loop`` argument and raises TypeError, so
    that release cannot connect at all on a modern interpreter. We wrap that single
    call to drop ``loop`` (it was always the running loop here). This changes no
    byte on the wire: the same coroutine opens the same TCP/TLS stream.
    2026.7.1 does not pass ``loop`` and goes through the wrapper unchanged."""
    original = asyncio.open_connection

    async def open_connection(*args, loop=None, **kwargs):
        return await original(*args, **kwargs)

    asyncio.open_connection = open_connection


def _install_loop_argument_shim() -> None:
    """Releases before 2019.12 also pass ``loop=`` to asyncio.Queue, Event,
    start_server and sleep, all of which reject it since Python 3.10, so their
    Søcket cannot even be constructed there (the release compatibility matrix
    runs them all). The same objects are made without the argument (it always
    named the running loop). No byte on the wire changes. Installed only for
    releases before 2019.12 (2019.12.x and 2026.7.1 do not pass ``loop`` there)."""
    if sys.version_info < (3, 10):
        return

    def without_loop(cls):
        class NoLoop(cls):
            def __init__(self, *args, loop=None, **kwargs):
                super().__init__(*args, **kwargs)

        NoLoop.__name__ = NoLoop.__qualname__ = cls.__name__
        return NoLoop

    for name in ("Queue", "Event", "Lock", "Condition", "Semaphore", "BoundedSemaphore"):
        setattr(asyncio, name, without_loop(getattr(asyncio, name)))

    def drop_loop(fn):
        def wrapper(*args, loop=None, **kwargs):
            return fn(*args, **kwargs)

        wrapper.__name__ = fn.__name__
        return wrapper

    for name in ("start_server", "sleep", "wait_for", "gather", "shield"):
        setattr(asyncio, name, drop_loop(getattr(asyncio, name)))

    original_wait = asyncio.wait

    def wait(aws, *args, loop=None, **kwargs):
        # 2018.8.1 ... 2019.4.3 also pass bare coroutines (e.g. ``Event.wait()``)
        # to asyncio.wait, which Python 3.11 refuses with TypeError, killing the
        # socket's sender task. Python < 3.11 wrapped each one in a task itself;
        # ensure_future does exactly that here (a task stays the same task).
        return original_wait([asyncio.ensure_future(a) for a in aws], *args, **kwargs)

    asyncio.wait = wait


def _install_print_redirect() -> None:
    """aiomsg 2018.8.1, 2019.1.1 and 2019.4.1 print debug lines ("Got message in
    connection: ...") with the builtin print, which would mix them into the
    payload lines on stdout. A module-level name ``print`` in each aiomsg module
    shadows the builtin there, so the same lines go to stderr instead. Nothing
    else in the library changes, and no byte on the wire."""

    def print_to_stderr(*args, **kwargs):
        kwargs["file"] = sys.stderr
        print(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name == "aiomsg" or name.startswith("aiomsg."):
            module.print = print_to_stderr


_install_open_connection_shim()
if tuple(int(x) for x in AIOMSG_VERSION.split(".")[:2]) < (2019, 12):
    _install_loop_argument_shim()
_install_print_redirect()

# Releases before 2019.4.2 call the class SmartSocket and have no DeliveryGuarantee.
SOCKET_CLASS = getattr(aiomsg, "Søcket", None) or getattr(aiomsg, "SmartSocket")
DELIVERY = getattr(aiomsg, "DeliveryGuarantee", None)
UNSUPPORTED_EXIT = 4


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def event(*parts) -> None:
    log(" ".join(["EVENT", *map(str, parts)]))


def hex_identity(identity) -> str:
    # aiomsg before 2019.4 keeps identities as str (a UUID's text); later as bytes.
    return identity.hex() if isinstance(identity, (bytes, bytearray)) else str(identity)


def unsupported(what: str) -> None:
    """The release lacks something the scenario needs: say so and exit 4."""
    event("unsupported", what.replace(" ", "_"))
    log(f"agent.py: unsupported: {what}")
    sys.exit(UNSUPPORTED_EXIT)


def parse_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError("expected true or false")
    return text == "true"


def parse_identity(text: str):
    if text == "":
        return None  # the contract: empty means "generate one"
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("identity must be hex")
    if len(raw) != 16:
        raise argparse.ArgumentTypeError("identity must be 32 hex chars (16 bytes)")
    return raw


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--role", choices=["bind", "connect"], required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=25000)
    p.add_argument("--ports", default=None, help="comma-separated ports (extension)")
    p.add_argument("--send-mode", choices=["publish", "roundrobin"], default="roundrobin")
    p.add_argument(
        "--behavior", choices=["source", "sink", "echo", "request"], required=True
    )
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--prefix", default="m")
    p.add_argument(
        "--delivery", choices=["at-most-once", "at-least-once"], default="at-most-once"
    )
    p.add_argument("--identity", type=parse_identity, default=None)
    p.add_argument("--forever", type=parse_bool, default=False)
    p.add_argument("--linger", type=float, default=1.0)
    p.add_argument("--tls", type=parse_bool, default=False)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-ca")
    p.add_argument("--tls-server-name")
    p.add_argument("--wait-peers", type=int, default=0)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--pause-after", type=int, default=-1)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--retries", type=int, default=None)
    args = p.parse_args(argv)
    args.port_list = (
        [int(x) for x in args.ports.split(",") if x] if args.ports else [args.port]
    )
    if args.tls and args.role == "bind" and not (args.tls_cert and args.tls_key):
        p.error("--tls true with --role bind needs --tls-cert and --tls-key")
    if args.retries is not None and args.retries < 1:
        p.error("--retries must be >= 1")
    return args


class _ServerNameContext(ssl.SSLContext):
    """aiomsg's connect() has no server_hostname parameter (asyncio then uses the
    host). To honour --tls-server-name we hand aiomsg a context that substitutes
    the name when asyncio wraps the TLS session; aiomsg itself is untouched."""

    server_name_override = None

    def wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None, session=None):
        if not server_side and self.server_name_override:
            server_hostname = self.server_name_override
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)


def make_ssl_context(args):
    if not args.tls:
        return None
    if args.role == "bind":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        return ctx
    ctx = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies cert + hostname
    if args.tls_ca:
        ctx.load_verify_locations(cafile=args.tls_ca)
    else:
        ctx.load_default_certs()
    ctx.server_name_override = args.tls_server_name
    return ctx


def observe_peers(sock) -> asyncio.Event:
    """Reports handshakes/disconnects as EVENT lines and returns an Event that is
    set whenever the peer set changes. The library has no callback for this, so
    we hook ``Søcket._connections``, a private attribute of the real library (in
    both releases a dict subclass mapping peer identity -> Connection, filled
    right after the handshake and emptied when the connection ends): its class is
    swapped for a subclass that reports each insert/delete. Observation only: it
    changes no behaviour and no byte."""
    changed = asyncio.Event()
    base = type(sock._connections)

    class ObservedConnections(base):
        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            event("peer-connected", hex_identity(key))
            changed.set()

        def __delitem__(self, key):
            super().__delitem__(key)
            event("peer-disconnected", hex_identity(key))
            changed.set()

    sock._connections.__class__ = ObservedConnections
    return changed


async def wait_peers(sock, changed: asyncio.Event, n: int) -> None:
    # Reads the same private attribute as observe_peers (see there).
    while len(sock._connections) < n:
        changed.clear()
        await changed.wait()


def print_payload(payload: bytes) -> None:
    sys.stdout.write(payload.decode("utf-8", "backslashreplace") + "\n")
    sys.stdout.flush()


def send_kwargs(args) -> dict:
    return {} if args.retries is None else {"retries": args.retries}


async def send_all(sock, changed, args) -> None:
    if args.wait_peers > 0:
        await wait_peers(sock, changed, args.wait_peers)
    for i in range(args.count):
        await sock.send(f"{args.prefix}{i}".encode(), **send_kwargs(args))
        if i + 1 == args.pause_after and args.pause > 0:
            event("pausing", args.pause)
            await asyncio.sleep(args.pause)
        elif args.interval > 0:
            await asyncio.sleep(args.interval)
    event("sent", args.count)


async def receive_and_print(sock, count: int, forever: bool) -> None:
    received = 0
    while forever or received < count:
        payload = await sock.recv()
        print_payload(payload)
        received += 1


async def run(args) -> int:
    send_mode = (
        aiomsg.SendMode.PUBLISH if args.send_mode == "publish" else aiomsg.SendMode.ROUNDROBIN
    )
    if DELIVERY is None:
        if args.delivery == "at-least-once":
            unsupported(f"aiomsg {AIOMSG_VERSION} has no at-least-once delivery")
        delivery = None
    else:
        delivery = (
            DELIVERY.AT_LEAST_ONCE if args.delivery == "at-least-once" else DELIVERY.AT_MOST_ONCE
        )
    if args.retries is not None and "retries" not in inspect.signature(SOCKET_CLASS.send).parameters:
        unsupported(f"aiomsg {AIOMSG_VERSION} has no per-send retries")
    if args.tls and "ssl_context" not in inspect.signature(SOCKET_CLASS.bind).parameters:
        unsupported(f"aiomsg {AIOMSG_VERSION} has no TLS support")
    kwargs = {"send_mode": send_mode}
    if DELIVERY is not None:
        kwargs["delivery_guarantee"] = delivery
    if args.identity is not None:
        kwargs["identity"] = args.identity
    sock = SOCKET_CLASS(**kwargs)
    if isinstance(sock.identity, str) and args.identity is not None:
        unsupported(f"aiomsg {AIOMSG_VERSION} identities are strings, not 16 bytes")
    log(
        f"agent.py aiomsg {AIOMSG_VERSION} identity {hex_identity(sock.identity)} "
        f"role {args.role} behavior {args.behavior} ports {args.port_list}"
    )
    changed = observe_peers(sock)
    ssl_ctx = make_ssl_context(args)
    tls_kwargs = {"ssl_context": ssl_ctx} if ssl_ctx is not None else {}

    ports = []
    # asyncio keeps only weak references to tasks. aiomsg keeps a reference to
    # its reconnect task in ``connect_task`` (2026.7.1, only the last one when
    # connect() is called several times) or nowhere at all (2019.12.3), so with
    # --ports a pending reconnect task can be garbage-collected mid-flight
    # ("Task was destroyed but it is pending!"). Hold strong references to every
    # task that connect() creates. Doing so changes no behaviour and no byte.
    held_tasks = set()
    for port in args.port_list:
        if args.role == "bind":
            await sock.bind(args.host, port, **tls_kwargs)
            ports.append(sock.server.sockets[0].getsockname()[1])
        else:
            before = asyncio.all_tasks()
            await sock.connect(args.host, port, **tls_kwargs)
            held_tasks |= asyncio.all_tasks() - before
            ports.append(port)
    event("ready", ",".join(map(str, ports)))

    if args.behavior == "source":
        await send_all(sock, changed, args)
        await asyncio.sleep(args.linger)
    elif args.behavior == "sink":
        await receive_and_print(sock, args.count, args.forever)
        if args.delivery == "at-least-once":
            # The receiver's ACK/REP goes out ~20 ms after the payload is handed
            # over (docs/protocol.md): stay up a moment so the last one is not lost.
            await asyncio.sleep(0.2)
    elif args.behavior == "echo":
        for _ in range(args.count):
            identity, payload = await sock.recv_identity()
            await sock.send(payload, identity=identity, **send_kwargs(args))
        event("echoed", args.count)
        await asyncio.sleep(args.linger)
    elif args.behavior == "request":
        sender = asyncio.get_running_loop().create_task(send_all(sock, changed, args))
        await receive_and_print(sock, args.count, args.forever)
        await sender
        await asyncio.sleep(max(args.linger, 0.2 if args.delivery == "at-least-once" else 0))

    event("done")
    await sock.close(timeout=5)
    return 0


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper(), logging.WARNING),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
