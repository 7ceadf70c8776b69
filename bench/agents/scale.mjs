// The fan-out ("publish") and round-robin groups, shared by the Node agents:
// the hub (role `pub`) and the subscribers/workers process (role `subs`, N
// connections in ONE process) speak the same JSON lines whatever the library.
// Each agent supplies only the library calls (bind, send, connect, receive).
//
// Hub:  ready {port} -> (roundrobin: peers {n}) -> stdin "go" -> start {t0}
//       -> sent {count, dropped_reported} -> stdin "cpu" -> cpu {cpu_s, rss_kb}
// Subs: (publish: ready once every connection got a probe) -> stdin "expect T"
//       -> result {count, tLast, min_per_conn, max_per_conn, rss_kb}
// Publish mode: before "go" the hub sends 1-byte probes every 10 ms (zeromq
// PUB drops messages for a subscription that has not arrived yet); probes are
// not counted. The subs process reports when it has T messages or after 1 s
// with none (publish may drop).
import { nowNs, peakRssKb, emit, stdinClosed } from "./common.mjs";

export const PROBE = new Uint8Array(1);
const PROBE_EVERY_MS = 10;
const IDLE_MS = 1000;
/** Dials in flight at once when a process opens many connections. */
export const DIAL_LIMIT = 200;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Stdin lines; next(pred) resolves with the first line (not yet taken) matching. */
export function stdinLines() {
  const lines = [];
  const waiters = [];
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop();
    for (const l of parts) lines.push(l.trim());
    for (const w of [...waiters]) w();
  });
  return {
    next(pred) {
      return new Promise((resolve) => {
        const check = () => {
          const i = lines.findIndex(pred);
          if (i < 0) return false;
          waiters.splice(waiters.indexOf(check), 1);
          resolve(lines.splice(i, 1)[0]);
          return true;
        };
        waiters.push(check);
        check();
      });
    },
  };
}

/** Run open(i) for i < n with at most `limit` in flight. */
export async function bounded(n, limit, open) {
  let next = 0;
  const worker = async () => {
    while (next < n) await open(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** Counts a hub's peers: call arrived() per peer; waitPeers(n) resolves once n have. */
export function peerCounter() {
  let peers = 0;
  const waiters = [];
  return {
    arrived() {
      peers++;
      for (const w of [...waiters]) w();
    },
    waitPeers: (n) =>
      new Promise((resolve) => {
        const check = () => {
          if (peers < n) return;
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
      }),
  };
}

/**
 * hub: { bind(): Promise<port>, waitPeers(n): Promise, probe(): Promise,
 *        step(): Promise<number sent>, dropped?(): number }
 */
export async function runHub(args, hub) {
  const n = Number(args.raw.n ?? 1);
  const mode = args.raw.mode ?? "publish";
  const stdin = stdinLines();
  const port = await hub.bind();
  emit({ ev: "ready", port });
  if (mode === "publish") {
    let go = false;
    const goSeen = stdin.next((l) => l === "go").then(() => (go = true));
    while (!go) {
      await hub.probe();
      await Promise.race([sleep(PROBE_EVERY_MS), goSeen]);
    }
  } else {
    await hub.waitPeers(n);
    emit({ ev: "peers", n });
    await stdin.next((l) => l === "go");
  }
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  const deadline = t0 + BigInt(Math.round(args.duration * 1e9));
  let sent = 0;
  while (nowNs() < deadline) sent += await hub.step();
  emit({ ev: "sent", count: sent, dropped_reported: hub.dropped?.() ?? null });
  await stdin.next((l) => l === "cpu");
  const c = process.cpuUsage(cpu0);
  emit({ ev: "cpu", cpu_s: (c.user + c.system) / 1e6, rss_kb: peakRssKb() });
  await stdinClosed();
  process.exit(0);
}

/**
 * subs: { open(i, onMessage(i, length)): Promise (resolves once connected) }
 * Counts messages of args.size bytes per connection; 1-byte probes mark a
 * connection as subscribed.
 */
export async function runSubs(args, subs) {
  const n = Number(args.raw.n ?? 1);
  const mode = args.raw.mode ?? "publish";
  const counts = new Float64Array(n);
  const probed = new Uint8Array(n);
  let nProbed = 0;
  let total = 0;
  let expected = Infinity;
  let tLast = 0n;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    let min = Infinity;
    let max = 0;
    for (const c of counts) {
      if (c < min) min = c;
      if (c > max) max = c;
    }
    emit({ ev: "result", count: total, tLast, min_per_conn: min, max_per_conn: max, rss_kb: peakRssKb() });
    process.exit(0);
  };
  const size = args.size;
  const onMessage = (i, len) => {
    if (len === size) {
      counts[i]++;
      // The clock every 64 deliveries (and exactly at the expected total):
      // tLast is then at most 63 deliveries early when messages were dropped.
      if ((++total & 63) === 0) tLast = nowNs();
      if (total >= expected) {
        tLast = nowNs();
        finish();
      }
    } else if (len === PROBE.length && !probed[i]) {
      probed[i] = 1;
      if (++nProbed === n && mode === "publish") emit({ ev: "ready" });
    }
  };
  const stdin = stdinLines();
  await bounded(n, DIAL_LIMIT, (i) => subs.open(i, onMessage));
  emit({ ev: "connected", n });
  if (mode !== "publish") emit({ ev: "ready" });
  const line = await stdin.next((l) => l.startsWith("expect "));
  expected = Number(line.slice(7));
  if (total >= expected) finish();
  let seen = total;
  let quietSince = Date.now();
  setInterval(() => {
    if (total !== seen) {
      seen = total;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= IDLE_MS) finish();
  }, 50);
}

/** Dials in flight at once for the idle group (below Node's listen backlog of 511). */
export const IDLE_DIAL_LIMIT = 500;

function memNow() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function settledMemory() {
  globalThis.gc?.();
  await sleep(1000);
  globalThis.gc?.();
  await sleep(50);
  return memNow();
}

/**
 * Idle peers, hub side (run with --expose-gc).
 * hub: { bind(): Promise<port>, peers(): number, onPeer(cb), count(): {count, tLast} | undefined
 *        (set once the active source's end marker arrived), onDone(cb) }
 * Lines: ready {port, base} -> peers {n, tN} -> (stdin "settle") mem {...}
 *        -> result {count, tLast, rss_kb}
 */
export async function runIdleHub(args, hub) {
  const n = Number(args.raw.n ?? 0);
  const stdin = stdinLines();
  const port = await hub.bind();
  const base = await settledMemory();
  emit({ ev: "ready", port, base });
  if (n > 0) {
    await new Promise((resolve) => {
      hub.onPeer((count) => {
        if (count === n) {
          emit({ ev: "peers", n, tN: nowNs() });
          resolve();
        }
      });
    });
  }
  await stdin.next((l) => l === "settle");
  emit({ ev: "mem", ...(await settledMemory()), peers: hub.peers() });
  const res = await hub.done();
  emit({ ev: "result", ...res, peers: hub.peers(), rss_kb: peakRssKb() });
  await stdinClosed();
  process.exit(0);
}

/** Idle peers, client side: N connections, IDLE_DIAL_LIMIT dials in flight. */
export async function runIdlePeers(args, open) {
  const n = Number(args.raw.n ?? 0);
  const t0 = nowNs();
  emit({ ev: "start", t0 });
  await bounded(n, IDLE_DIAL_LIMIT, open);
  emit({ ev: "connected", n, t: nowNs() });
  await stdinClosed();
  emit({ ev: "exit", rss_kb: peakRssKb() });
  process.exit(0);
}
