// Upstream aiomsg's Node port (its javascript-lib, not on npm) as an opt-in
// baseline: the same roles and JSON lines as the other agents. The checkout is
// never part of this repository; its directory comes from the environment:
//   AIOMSG_BENCH_UPSTREAM_JS=/path/to/javascript-lib node bench/run.mjs
// (or run.mjs --upstream-js PATH, which sets it for the agents).
//
// Its public API, as documented in its README: new Socket({ sendMode, delivery }),
// bind(host, port), connect(host, port) (returns before the handshake),
// send(data) and sendTo(identity, data) (synchronous, never wait),
// recv() / recvMessage() -> { data, sender }, close(). Three things the bench
// needs are not in that API and are read from the socket's own fields, marked
// below: the bound port, whether a peer has finished its handshake, and (at
// least once) whether every message has been acknowledged. send() has no
// backpressure, so the source waits for `drain` on the connection's socket
// once more than 1 MiB is queued on it, as an application would have to.
import path from "node:path";
import { once } from "node:events";
import { pathToFileURL } from "node:url";
import {
  parseArgs, nowNs, peakRssKb, sleeps, emit, stdinClosed, measureRoundTrips, payload, checkEvery, fail,
} from "./common.mjs";

const dir = process.env.AIOMSG_BENCH_UPSTREAM_JS;
if (!dir) fail("AIOMSG_BENCH_UPSTREAM_JS is not set (the upstream javascript-lib directory)");
const { Socket, SendMode, Delivery } = await import(pathToFileURL(path.join(dir, "src", "index.js")).href);

const args = parseArgs();
const QUEUED_MAX = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

function makeSocket() {
  return new Socket({
    sendMode: SendMode.ROUND_ROBIN,
    delivery: args.delivery === "at-least-once" ? Delivery.AT_LEAST_ONCE : Delivery.AT_MOST_ONCE,
  });
}

async function bindTo(sock) {
  await sock.bind(args.host, 0);
  // Not in its API: the listening server, for the port the OS picked.
  const [server] = sock.servers;
  emit({ ev: "ready", port: server.address().port });
}

/** Not in its API: `conns` holds the connections that finished the handshake. */
async function connectTo(sock) {
  await sock.connect(args.host, args.port);
  const end = Date.now() + 20_000;
  while (sock.conns.length === 0) {
    if (Date.now() > end) throw new Error("no handshake within 20 s");
    await sleep(2);
  }
}

async function sink() {
  const sock = makeSocket();
  await bindTo(sock);
  let count = 0;
  let tFirst = 0n;
  for (;;) {
    const msg = await sock.recv();
    if (msg === null || msg.length === 0) break;
    if (count++ === 0) tFirst = nowNs();
  }
  const tLast = nowNs();
  emit({ ev: "result", count, tFirst, tLast, rss_kb: peakRssKb(), vcsw: sleeps() });
  if (args.delivery === "at-least-once") await stdinClosed(); // its ACKs go out as each DATA_REQ arrives
  process.exit(0);
}

async function source() {
  const sock = makeSocket();
  await connectTo(sock);
  const conn = sock.conns[0].socket;
  const body = payload(args.size);
  const every = checkEvery(args.size);
  let sent = 0;
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  const deadline = t0 + BigInt(Math.round(args.duration * 1e9));
  while (nowNs() < deadline) {
    for (let i = 0; i < every; i++) sock.send(body);
    sent += every;
    if (conn.writableLength > QUEUED_MAX) await once(conn, "drain");
    else await tick(); // let ACKs and the socket's own I/O in
  }
  sock.send(new Uint8Array(0)); // empty payload = end of run
  emit({ ev: "sent", count: sent });
  if (args.delivery === "at-least-once") {
    // Not in its API: `pending` maps each unacknowledged message id.
    while (sock.pending.size > 0) await sleep(1);
    emit({ ev: "acked", tAcked: nowNs(), dropped: 0 });
  }
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps(), dropped: 0 });
  process.exit(0);
}

async function echo() {
  const sock = makeSocket();
  await bindTo(sock);
  stdinClosed().then(() => {
    emit({ ev: "exit", rss_kb: peakRssKb(), vcsw: sleeps() });
    process.exit(0);
  });
  for (;;) {
    const m = await sock.recvMessage();
    if (m === null) break;
    sock.sendTo(m.sender, m.data);
  }
}

async function ping() {
  const sock = makeSocket();
  await connectTo(sock);
  const body = payload(args.size);
  const roundTrip = async () => {
    sock.send(body);
    await sock.recv();
  };
  await measureRoundTrips(args, roundTrip);
  process.exit(0);
}

const roles = { sink, source, echo, ping };
if (!roles[args.role]) fail(`unknown role ${args.role} (the upstream agent plays sink, source, echo, ping)`);
roles[args.role]().catch(fail);
