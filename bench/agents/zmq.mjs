// zeromq.js v6 (libzmq) over loopback TCP: PUSH/PULL one-way, REQ/REP echo.
import * as zmq from "zeromq";
import {
  parseArgs, nowNs, peakRssKb, sleeps, emit, stdinClosed, measureRoundTrips, payload, checkEvery, fail,
} from "./common.mjs";
import { runHub, runSubs, peerCounter, PROBE } from "./scale.mjs";

const args = parseArgs();

async function bindTo(sock) {
  await sock.bind(`tcp://${args.host}:*`);
  emit({ ev: "ready", port: Number(sock.lastEndpoint.split(":").pop()) });
}

function connected(sock) {
  return new Promise((resolve) => {
    sock.events.on("connect", () => resolve());
  });
}

async function sink() {
  const pull = new zmq.Pull();
  await bindTo(pull);
  let count = 0;
  let tFirst = 0n;
  for await (const [msg] of pull) {
    if (msg.length === 0) break;
    if (count++ === 0) tFirst = nowNs();
  }
  const tLast = nowNs();
  emit({ ev: "result", count, tFirst, tLast, rss_kb: peakRssKb(), vcsw: sleeps() });
  process.exit(0);
}

async function source() {
  const push = new zmq.Push({ linger: 10_000 });
  const up = connected(push);
  push.connect(`tcp://${args.host}:${args.port}`);
  await up;
  const body = payload(args.size);
  const every = checkEvery(args.size);
  let sent = 0;
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  const deadline = t0 + BigInt(Math.round(args.duration * 1e9));
  while (nowNs() < deadline) {
    for (let i = 0; i < every; i++) await push.send(body);
    sent += every;
  }
  await push.send(Buffer.alloc(0)); // empty message = end of run
  emit({ ev: "sent", count: sent });
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
  process.exit(0);
}

async function echo() {
  const rep = new zmq.Reply();
  await bindTo(rep);
  const done = stdinClosed().then(() => {
    emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
    process.exit(0);
  });
  for await (const [msg] of rep) await rep.send(msg);
  await done;
}

async function ping() {
  const req = new zmq.Request();
  const up = connected(req);
  req.connect(`tcp://${args.host}:${args.port}`);
  await up;
  const body = payload(args.size);
  const roundTrip = async () => {
    await req.send(body);
    await req.receive();
  };
  await measureRoundTrips(args, roundTrip);
  process.exit(0);
}

/** Fan-out (PUB) / round-robin (PUSH) hub. ZeroMQ's default listen backlog
 * (100) is raised so that 1,000 dials are not left in SYN retries. */
function pub() {
  const rr = args.raw.mode === "roundrobin";
  const sock = rr ? new zmq.Push({ backlog: 4096 }) : new zmq.Publisher({ backlog: 4096 });
  const counter = peerCounter();
  // Push queues for no one until a peer is there: count finished handshakes.
  sock.events.on("handshake", counter.arrived);
  const body = payload(args.size);
  return runHub(args, {
    async bind() {
      await sock.bind(`tcp://${args.host}:*`);
      return Number(sock.lastEndpoint.split(":").pop());
    },
    waitPeers: counter.waitPeers,
    probe: () => sock.send(PROBE),
    async step() {
      for (let i = 0; i < 256; i++) await sock.send(body);
      return 256;
    },
  });
}

/** N SUB (or PULL) sockets in this one process. Readiness is the probes (SUB)
 * or the hub's handshake count (PULL), so connect() is not awaited here. */
function subs() {
  zmq.context.maxSockets = 8192;
  const rr = args.raw.mode === "roundrobin";
  return runSubs(args, {
    async open(i, onMessage) {
      const sock = rr ? new zmq.Pull() : new zmq.Subscriber();
      if (!rr) sock.subscribe();
      sock.connect(`tcp://${args.host}:${args.port}`);
      (async () => {
        for await (const [msg] of sock) onMessage(i, msg.length);
      })().catch(fail);
    },
  });
}

const roles = { sink, source, echo, ping, pub, subs };
if (!roles[args.role]) fail(`unknown role ${args.role}`);
roles[args.role]().catch(fail);
