// zeromq.js v6 (libzmq) over loopback TCP: PUSH/PULL one-way, REQ/REP echo.
import * as zmq from "zeromq";
import {
  parseArgs, nowNs, peakRssKb, sleeps, emit, stdinClosed, measureRoundTrips, payload, checkEvery, fail,
} from "./common.mjs";

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

const roles = { sink, source, echo, ping };
if (!roles[args.role]) fail(`unknown role ${args.role}`);
roles[args.role]().catch(fail);
