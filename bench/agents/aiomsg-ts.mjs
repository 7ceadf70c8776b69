// aiomsg-ts bench agent: the same roles and JSON lines as the other agents,
// written as an application would use the public API (await send(), for await).
import { once } from "node:events";
// AIOMSG_BENCH_LIB=<index.js> measures another build (e.g. an older commit) with the same agent.
const { Socket } = await import(process.env.AIOMSG_BENCH_LIB ?? "aiomsg-ts");
import {
  parseArgs, nowNs, peakRssKb, sleeps, cpuSeconds, emit, stdinClosed, stdinWord, measureRoundTrips, payload, checkEvery, fail,
} from "./common.mjs";
import { runHub, runSubs, runIdleHub, runIdlePeers, peerCounter, PROBE } from "./scale.mjs";

const args = parseArgs();

function makeSocket() {
  const opts = { sendMode: "roundrobin", deliveryGuarantee: args.delivery };
  if (args.hwm !== undefined) opts.highWaterMark = args.hwm;
  // --max-frame: only for sweep sizes whose frame would pass the 16 MiB default
  // (partialFrameBudget follows at 2 x maxFrameSize).
  if (args.raw["max-frame"] !== undefined) opts.maxFrameSize = Number(args.raw["max-frame"]);
  return new Socket(opts);
}

async function bindTo(sock) {
  await sock.bind(args.host, 0);
  emit({ ev: "ready", port: sock.port });
}

async function connectTo(sock) {
  const up = once(sock, "peerConnected");
  await sock.connect(args.host, args.port);
  await up;
}

async function sink() {
  const sock = makeSocket();
  await bindTo(sock);
  let count = 0;
  let tFirst = 0n;
  let cpu0 = 0;
  for await (const msg of sock.messages()) {
    if (msg.length === 0) break;
    if (count++ === 0) {
      tFirst = nowNs();
      cpu0 = cpuSeconds();
    }
  }
  const tLast = nowNs();
  emit({ ev: "result", count, tFirst, tLast, rss_kb: peakRssKb(), vcsw: sleeps(), cpu_s: cpuSeconds() - cpu0 });
  // at-least-once: stay up until the last ACKs are out (the orchestrator waits
  // for the source to see them, then closes our stdin).
  if (args.delivery === "at-least-once") await stdinClosed();
  process.exit(0);
}

async function source() {
  const sock = makeSocket();
  let dropped = 0;
  sock.on("dropped", () => dropped++);
  await connectTo(sock);
  const body = payload(args.size);
  const every = checkEvery(args.size);
  let sent = 0;
  const cpu0 = cpuSeconds();
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  const deadline = t0 + BigInt(Math.round(args.duration * 1e9));
  while (nowNs() < deadline) {
    for (let i = 0; i < every; i++) await sock.send(body);
    sent += every;
  }
  await sock.send(new Uint8Array(0)); // empty payload = end of run
  emit({ ev: "sent", count: sent });
  if (args.delivery === "at-least-once") {
    // close() lingers until every message is acknowledged (or reports drops).
    await sock.close({ linger: 60_000 });
    emit({ ev: "acked", tAcked: nowNs(), dropped });
  }
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps(), dropped, cpu_s: cpuSeconds() - cpu0 });
  process.exit(0);
}

async function echo() {
  const sock = makeSocket();
  await bindTo(sock);
  stdinClosed().then(() => {
    emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
    process.exit(0);
  });
  for await (const [identity, msg] of sock.identityMessages()) {
    await sock.send(msg, { identity });
  }
}

async function ping() {
  const sock = makeSocket();
  await connectTo(sock);
  const body = payload(args.size);
  const roundTrip = async () => {
    await sock.send(body);
    await sock.recv();
  };
  await measureRoundTrips(args, roundTrip);
  process.exit(0);
}

/** Bounded memory: offer `total` bytes (64 KiB messages) to a peer that the
 * orchestrator has SIGSTOPped; report accepted bytes and peak RSS when the
 * time is up (a stopped peer can never take 2 GB). */
async function hwmSource() {
  const sock = makeSocket();
  await connectTo(sock);
  emit({ ev: "connected" });
  await stdinWord("go");
  const body = payload(args.size);
  let accepted = 0;
  let peakSampled = 0;
  let blockedSince = null;
  const sample = () => {
    peakSampled = Math.max(peakSampled, process.memoryUsage.rss());
  };
  const sampler = setInterval(sample, 50);
  const t0 = nowNs();
  setTimeout(() => {
    clearInterval(sampler);
    sample();
    emit({
      ev: "result",
      offered_bytes: args.total,
      accepted_bytes: accepted,
      blocked_for_s: blockedSince === null ? 0 : Number(nowNs() - blockedSince) / 1e9,
      peak_rss_kb: Math.max(peakRssKb(), Math.round(peakSampled / 1024)),
      elapsed_s: Number(nowNs() - t0) / 1e9,
    });
    process.exit(0);
  }, args.duration * 1000);
  while (accepted < args.total) {
    const p = sock.send(body);
    blockedSince = nowNs();
    await p;
    blockedSince = null;
    accepted += body.length;
  }
  emit({ ev: "log", msg: "all offered bytes accepted before the deadline" });
}

/** Fan-out / round-robin hub: one bind Socket in send mode --mode. */
function pub() {
  const sock = new Socket({ sendMode: args.raw.mode ?? "publish" });
  let dropped = 0;
  const counter = peerCounter();
  sock.on("peerConnected", counter.arrived);
  sock.on("dropped", () => dropped++);
  const body = payload(args.size);
  return runHub(args, {
    async bind() {
      await sock.bind(args.host, 0);
      return sock.port;
    },
    waitPeers: counter.waitPeers,
    probe: () => sock.send(PROBE),
    async step() {
      for (let i = 0; i < 256; i++) await sock.send(body);
      return 256;
    },
    dropped: () => dropped,
  });
}

/** N connect Sockets in this one process (subscribers or workers). */
function subs() {
  return runSubs(args, {
    async open(i, onMessage) {
      const sock = new Socket();
      const up = once(sock, "peerConnected");
      await sock.connect(args.host, args.port);
      (async () => {
        for await (const msg of sock) onMessage(i, msg.length);
      })().catch(fail);
      await up;
    },
  });
}

/** Idle peers, the hub: a bind Socket with default options, counting the one
 * active source's messages like a sink once the N idle peers are in. */
function idleHub() {
  const sock = new Socket();
  let peers = 0;
  let onPeer = () => {};
  sock.on("peerConnected", () => onPeer(++peers));
  return runIdleHub(args, {
    async bind() {
      await sock.bind(args.host, 0);
      return sock.port;
    },
    peers: () => peers,
    onPeer(cb) {
      onPeer = cb;
    },
    async done() {
      let count = 0;
      for await (const msg of sock) {
        if (msg.length === 0) break;
        count++;
      }
      return { count, tLast: nowNs() };
    },
  });
}

/** Idle peers, the clients: N connect Sockets with default options (they heartbeat). */
function idlePeers() {
  const socks = [];
  return runIdlePeers(args, async () => {
    const sock = new Socket();
    socks.push(sock);
    const up = once(sock, "peerConnected");
    await sock.connect(args.host, args.port);
    await up;
  });
}

const roles = { sink, source, echo, ping, "hwm-source": hwmSource, pub, subs, "idle-hub": idleHub, "idle-peers": idlePeers };
if (!roles[args.role]) fail(`unknown role ${args.role}`);
roles[args.role]().catch(fail);
