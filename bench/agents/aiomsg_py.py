"""Python aiomsg (PyPI 2026.7.1) bench agent: same roles and JSON lines as the
Node agents (sink / source / echo / ping). Run by bench/run.mjs inside bench/.venv.

Python aiomsg's send() never waits (its queues are unbounded), so the source
sleeps (1 ms steps, not a busy yield that would steal the loop from aiomsg's own
tasks) once its socket queue plus the connection write queue hold more than
~16 MiB (64..4096 messages), until they are half drained: the same pipeline,
never starved, with bounded memory. This
reads private attributes (_user_send_queue, _connections); only the bench does.
"""
import argparse
import asyncio
import os
import json
import resource
import sys
import threading
import time

from aiomsg import DeliveryGuarantee, SendMode, Søcket

PACE_BYTES = 16 * 1024 * 1024


def queued(sock):
    return sock._user_send_queue.qsize() + sum(
        c.writer_queue.qsize() for c in sock._connections.values()
    )


def finish(obj):
    """Last line of a role: report, then leave without asyncio teardown (closing
    aiomsg's tasks can wait on a peer that is gone or stopped)."""
    emit(obj)
    os._exit(0)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def sleeps():
    """Voluntary context switches (ru_nvcsw): how often this process waited."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--role", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--duration", type=float, default=1.5)
    p.add_argument("--warmup", type=float, default=0.3)
    p.add_argument("--delivery", default="at-most-once")
    p.add_argument("--mode", default="publish")
    p.add_argument("--n", type=int, default=1)
    return p.parse_args()


def make_socket(args):
    guarantee = (
        DeliveryGuarantee.AT_LEAST_ONCE
        if args.delivery == "at-least-once"
        else DeliveryGuarantee.AT_MOST_ONCE
    )
    return Søcket(send_mode=SendMode.ROUNDROBIN, delivery_guarantee=guarantee)


async def bind(sock, args):
    await sock.bind(args.host, args.port)
    emit({"ev": "ready", "port": sock.server.sockets[0].getsockname()[1]})


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def sink(args):
    sock = make_socket(args)
    await bind(sock, args)
    count = 0
    t_first = 0
    cpu0 = 0.0
    while True:
        msg = await sock.recv()
        if not msg:
            break
        if count == 0:
            t_first = time.monotonic_ns()
            cpu0 = cpu_seconds()
        count += 1
    t_last = time.monotonic_ns()
    finish({"ev": "result", "count": count, "tFirst": t_first, "tLast": t_last,
          "rss_kb": peak_rss_kb(), "vcsw": sleeps(), "cpu_s": cpu_seconds() - cpu0})


async def connected(sock, args):
    await sock.connect(args.host, args.port)
    await sock.at_least_one_connection.wait()


async def source(args):
    sock = make_socket(args)
    await connected(sock, args)
    body = b"a" * args.size
    # At most ~16 MiB queued (and at least 2 messages, for sizes above 8 MiB).
    high = max(2, min(4096, PACE_BYTES // max(1, args.size)))
    # Look at the deadline every 64 messages, or every ~4 MiB for large ones.
    every = min(64, max(1, 4 * 1024 * 1024 // max(1, args.size)))
    sent = 0
    cpu0 = cpu_seconds()
    t0 = time.monotonic_ns()
    emit({"ev": "start", "t0": t0})
    deadline = t0 + int(args.duration * 1e9)
    while time.monotonic_ns() < deadline:
        for _ in range(every):
            await sock.send(body)
        sent += every
        if queued(sock) > high:
            while queued(sock) > high // 2:
                await asyncio.sleep(0.001)
    await sock.send(b"")  # empty payload = end of run
    emit({"ev": "sent", "count": sent})
    await stdin_closed()
    # CPU from the first send to here: the queues drain after "sent".
    finish({"ev": "exit", "rss_kb": peak_rss_kb(), "vcsw": sleeps(), "cpu_s": cpu_seconds() - cpu0})


async def echo(args):
    sock = make_socket(args)
    await bind(sock, args)

    async def serve():
        async for ident, msg in sock.identity_messages():
            await sock.send(msg, identity=ident)

    task = asyncio.create_task(serve())
    await stdin_closed()
    task.cancel()
    finish({"ev": "exit", "rss_kb": peak_rss_kb(), "vcsw": sleeps()})


async def ping(args):
    sock = make_socket(args)
    await connected(sock, args)
    body = b"a" * args.size
    warm_end = time.monotonic_ns() + int(args.warmup * 1e9)
    while time.monotonic_ns() < warm_end:
        await sock.send(body)
        await sock.recv()
    rtts = []
    end = time.monotonic_ns() + int(args.duration * 1e9)
    t = time.monotonic_ns()
    while t < end:
        await sock.send(body)
        await sock.recv()
        t2 = time.monotonic_ns()
        rtts.append(t2 - t)
        t = t2
    rtts.sort()
    n = len(rtts)

    def pct(p):
        return rtts[max(0, min(n - 1, -(-p * n // 100) - 1))] / 1e3

    finish({"ev": "result", "rtts": n, "p50_us": pct(50), "p99_us": pct(99),
          "mean_us": sum(rtts) / n / 1e3, "max_us": rtts[-1] / 1e3,
          "rss_kb": peak_rss_kb(), "vcsw": sleeps()})


def stdin_lines():
    """Stdin lines as an asyncio.Queue (None at EOF), read by a thread."""
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(q.put_nowait, line.strip())
        loop.call_soon_threadsafe(q.put_nowait, None)

    threading.Thread(target=reader, daemon=True).start()
    return q


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


PROBE = b"\x00"


async def pub(args):
    """Fan-out / round-robin hub: the protocol of bench/agents/scale.mjs."""
    mode = SendMode.PUBLISH if args.mode == "publish" else SendMode.ROUNDROBIN
    sock = Søcket(send_mode=mode)
    lines = stdin_lines()
    await bind(sock, args)
    if args.mode == "publish":
        go = asyncio.ensure_future(lines.get())
        while not go.done():
            await sock.send(PROBE)
            await asyncio.wait([go], timeout=0.01)
    else:
        while len(sock._connections) < args.n:
            await asyncio.sleep(0.01)
        emit({"ev": "peers", "n": args.n})
        await lines.get()  # "go"
    body = b"a" * args.size
    # send() never waits: pace as the one-way source does, per connection.
    high = max(2, min(4096, PACE_BYTES // max(1, args.size)))
    cpu0 = cpu_seconds()
    t0 = time.monotonic_ns()
    emit({"ev": "start", "t0": t0})
    deadline = t0 + int(args.duration * 1e9)
    sent = 0
    while time.monotonic_ns() < deadline:
        for _ in range(64):
            await sock.send(body)
        sent += 64
        limit = high * (max(1, len(sock._connections)) if args.mode == "publish" else 1)
        if queued(sock) > limit:
            while queued(sock) > limit // 2:
                await asyncio.sleep(0.001)
    emit({"ev": "sent", "count": sent, "dropped_reported": None})
    await lines.get()  # "cpu"
    emit({"ev": "cpu", "cpu_s": cpu_seconds() - cpu0, "rss_kb": peak_rss_kb()})
    await lines.get()  # EOF
    finish({"ev": "exit"})


async def subs(args):
    """N connect Søckets in this one process, counting args.size-byte messages."""
    n = args.n
    counts = [0] * n
    probed = [False] * n
    state = {"probed": 0, "total": 0, "t_last": 0, "expected": None}

    def done():
        finish({"ev": "result", "count": state["total"], "tLast": state["t_last"],
                "min_per_conn": min(counts), "max_per_conn": max(counts), "rss_kb": peak_rss_kb()})

    async def consume(i, sock):
        async for msg in sock.messages():
            if len(msg) == args.size:
                counts[i] += 1
                state["total"] += 1
                if state["total"] & 63 == 0:
                    state["t_last"] = time.monotonic_ns()
                if state["expected"] is not None and state["total"] >= state["expected"]:
                    state["t_last"] = time.monotonic_ns()
                    done()
            elif len(msg) == len(PROBE) and not probed[i]:
                probed[i] = True
                state["probed"] += 1
                if state["probed"] == n and args.mode == "publish":
                    emit({"ev": "ready"})

    lines = stdin_lines()
    gate = asyncio.Semaphore(200)
    tasks = []

    async def open_one(i):
        async with gate:
            sock = Søcket()
            tasks.append(asyncio.create_task(consume(i, sock)))
            await connected(sock, args)

    await asyncio.gather(*(open_one(i) for i in range(n)))
    emit({"ev": "connected", "n": n})
    if args.mode != "publish":
        emit({"ev": "ready"})
    line = await lines.get()
    state["expected"] = int(line.split()[1])
    seen, quiet_since = -1, time.monotonic()
    while state["total"] < state["expected"]:
        if state["total"] != seen:
            seen, quiet_since = state["total"], time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            break
        await asyncio.sleep(0.05)
    done()


def main():
    args = parse()
    role = {"sink": sink, "source": source, "echo": echo, "ping": ping, "pub": pub, "subs": subs}[args.role]
    asyncio.run(role(args))


if __name__ == "__main__":
    main()
