// Raw-Node baseline: length-prefixed frames over a bare `net` socket.
// Throughput: the source packs ready frames into ~64 KiB batches (one write
// each) and waits for 'drain' when write() says so. Latency: one frame in
// flight, TCP_NODELAY on.
import net from "node:net";
import { once } from "node:events";
import {
  parseArgs, nowNs, peakRssKb, sleeps, emit, stdinClosed, measureRoundTrips, payload, checkEvery, fail,
} from "./common.mjs";
import { FrameDecoder, frameOf } from "./raw-frames.mjs";
import { runHub, runSubs, runIdleHub, runIdlePeers, peerCounter, PROBE } from "./scale.mjs";

const args = parseArgs();
const BATCH = 64 * 1024;

async function listen() {
  const server = net.createServer({ noDelay: true });
  server.listen(0, args.host);
  await once(server, "listening");
  emit({ ev: "ready", port: server.address().port });
  return server;
}

async function sink() {
  const server = await listen();
  const [sock] = await once(server, "connection");
  server.close();
  let count = 0;
  let tFirst = 0n;
  const dec = new FrameDecoder((frame) => {
    if (frame.length === 0) {
      const tLast = nowNs();
      emit({ ev: "result", count, tFirst, tLast, rss_kb: peakRssKb(), vcsw: sleeps() });
      sock.destroy();
      process.exit(0);
    }
    if (count++ === 0) tFirst = nowNs();
  });
  sock.on("data", (chunk) => dec.push(chunk));
}

async function source() {
  const sock = net.connect({ host: args.host, port: args.port, noDelay: true });
  await once(sock, "connect");
  const body = payload(args.size);
  const frameLen = 4 + args.size;
  let sent = 0;
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  const deadline = t0 + BigInt(Math.round(args.duration * 1e9));
  if (frameLen <= BATCH / 2) {
    const perBatch = Math.floor(BATCH / frameLen);
    while (nowNs() < deadline) {
      const batch = Buffer.allocUnsafe(perBatch * frameLen);
      for (let i = 0, off = 0; i < perBatch; i++, off += frameLen) {
        batch.writeUInt32BE(args.size, off);
        batch.set(body, off + 4);
      }
      sent += perBatch;
      if (!sock.write(batch)) await once(sock, "drain");
    }
  } else {
    const hdr = Buffer.allocUnsafe(4);
    hdr.writeUInt32BE(args.size, 0);
    const every = Math.min(4, checkEvery(args.size));
    while (nowNs() < deadline) {
      sock.cork();
      for (let i = 0; i < every; i++) {
        sock.write(hdr);
        sock.write(body);
      }
      sent += every;
      sock.uncork();
      if (sock.writableNeedDrain) await once(sock, "drain");
    }
  }
  sock.write(Buffer.alloc(4)); // zero-length frame = end of run
  emit({ ev: "sent", count: sent });
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
  sock.destroy();
  process.exit(0);
}

async function echo() {
  const server = await listen();
  server.on("connection", (sock) => {
    const dec = new FrameDecoder((frame) => {
      const hdr = Buffer.allocUnsafe(4);
      hdr.writeUInt32BE(frame.length, 0);
      sock.write(hdr);
      sock.write(frame);
    });
    sock.on("data", (chunk) => {
      sock.cork();
      dec.push(chunk);
      sock.uncork();
    });
    sock.on("error", () => {});
  });
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
  process.exit(0);
}

async function ping() {
  const sock = net.connect({ host: args.host, port: args.port, noDelay: true });
  await once(sock, "connect");
  const frame = frameOf(payload(args.size));
  let waiter = null;
  const dec = new FrameDecoder(() => waiter());
  sock.on("data", (chunk) => dec.push(chunk));
  const roundTrip = () =>
    new Promise((resolve) => {
      waiter = resolve;
      sock.write(frame);
    });
  await measureRoundTrips(args, roundTrip);
  sock.destroy();
  process.exit(0);
}

/**
 * Raw fan-out / round-robin hub: the ceiling. Frames are packed into ~64 KiB
 * batches, encoded once; publish writes each batch to every subscriber and
 * waits for 'drain' on those that need it; round-robin writes each batch to
 * the next socket that does not need drain (waiting only when all do).
 */
function pub() {
  const rr = args.raw.mode === "roundrobin";
  const server = net.createServer({ noDelay: true });
  const socks = [];
  const counter = peerCounter();
  let drained = null;
  server.on("connection", (s) => {
    s.on("error", () => {});
    s.on("drain", () => drained?.());
    socks.push(s);
    counter.arrived();
  });
  const body = payload(args.size);
  const frameLen = 4 + args.size;
  const perBatch = Math.max(1, Math.floor(BATCH / frameLen));
  const encode = () => {
    const batch = Buffer.allocUnsafe(perBatch * frameLen);
    for (let i = 0, off = 0; i < perBatch; i++, off += frameLen) {
      batch.writeUInt32BE(args.size, off);
      batch.set(body, off + 4);
    }
    return batch;
  };
  const probe = frameOf(PROBE);
  let next = 0;
  return runHub(args, {
    async bind() {
      server.listen({ port: 0, host: args.host, backlog: 4096 });
      await once(server, "listening");
      return server.address().port;
    },
    waitPeers: counter.waitPeers,
    async probe() {
      for (const s of socks) if (!s.writableNeedDrain) s.write(probe);
    },
    async step() {
      const batch = encode();
      if (!rr) {
        for (const s of socks) s.write(batch);
        const full = socks.filter((s) => s.writableNeedDrain);
        if (full.length) await Promise.all(full.map((s) => once(s, "drain")));
        return perBatch;
      }
      for (;;) {
        for (let k = 0; k < socks.length; k++) {
          const s = socks[next];
          next = (next + 1) % socks.length;
          if (!s.writableNeedDrain) {
            s.write(batch);
            return perBatch;
          }
        }
        await new Promise((r) => (drained = r));
        drained = null;
      }
    },
  });
}

/** N raw connections in this one process, each with its own frame decoder. */
function subs() {
  return runSubs(args, {
    async open(i, onMessage) {
      const sock = net.connect({ host: args.host, port: args.port, noDelay: true });
      const dec = new FrameDecoder((f) => onMessage(i, f.length));
      sock.on("data", (chunk) => dec.push(chunk));
      await once(sock, "connect");
    },
  });
}

/** Idle peers, the hub: a bare net server (default backlog); a connection gets
 * a frame decoder only once it sends something (the active source). */
function idleHub() {
  const server = net.createServer({ noDelay: true });
  let peers = 0;
  let onPeer = () => {};
  let finished;
  const done = new Promise((r) => (finished = r));
  let count = 0;
  server.on("connection", (sock) => {
    sock.on("error", () => {});
    sock.once("data", (first) => {
      const dec = new FrameDecoder((f) => {
        if (f.length === 0) finished({ count, tLast: nowNs() });
        else count++;
      });
      dec.push(first);
      sock.on("data", (chunk) => dec.push(chunk));
    });
    onPeer(++peers);
  });
  return runIdleHub(args, {
    async bind() {
      server.listen(0, args.host);
      await once(server, "listening");
      return server.address().port;
    },
    peers: () => peers,
    onPeer(cb) {
      onPeer = cb;
    },
    done: () => done,
  });
}

/** Idle peers, the clients: N bare connections. */
function idlePeers() {
  const socks = [];
  return runIdlePeers(args, async () => {
    const sock = net.connect({ host: args.host, port: args.port });
    sock.on("error", () => {});
    socks.push(sock);
    await once(sock, "connect");
  });
}

const roles = { sink, source, echo, ping, pub, subs, "idle-hub": idleHub, "idle-peers": idlePeers };
if (!roles[args.role]) fail(`unknown role ${args.role}`);
roles[args.role]().catch(fail);
