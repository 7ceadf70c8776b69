// Shared plumbing for the Node bench agents: flags, JSON-lines reporting to the
// orchestrator, the cross-process clock and per-process peak RSS.
// Diagnostics go to stderr; stdout carries only JSON lines for bench/run.mjs.
import { once } from "node:events";

export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new TypeError(`bad flag ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return {
    role: out.role,
    host: out.host ?? "127.0.0.1",
    port: Number(out.port ?? 0),
    size: Number(out.size ?? 64),
    duration: Number(out.duration ?? 1.5),
    warmup: Number(out.warmup ?? 0.3),
    delivery: out.delivery ?? "at-most-once",
    total: Number(out.total ?? 0),
    hwm: out.hwm === undefined ? undefined : Number(out.hwm),
    raw: out,
  };
}

/** CLOCK_MONOTONIC in ns: the same clock as Python's time.monotonic_ns(), so
 * a sender's start and a receiver's finish can be subtracted across processes. */
export const nowNs = () => process.hrtime.bigint();

/** Peak resident set of this process so far, in KiB (getrusage ru_maxrss). */
export const peakRssKb = () => process.resourceUsage().maxRSS;

/** Times this process went to sleep waiting (getrusage ru_nvcsw): a receiver
 * that is woken per packet shows about one per message. */
export const sleeps = () => process.resourceUsage().voluntaryContextSwitches;

/** User + system CPU of this process so far, in seconds. */
export function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export function emit(obj) {
  process.stdout.write(
    JSON.stringify(obj, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n",
  );
}

/** Resolves when the orchestrator closes our stdin (its "you may exit now"). */
export function stdinClosed() {
  process.stdin.resume();
  return once(process.stdin, "end");
}

/** Resolves on the next stdin line equal to `word` (e.g. "go"). */
export function stdinWord(word) {
  return new Promise((resolve) => {
    let buf = "";
    const onData = (d) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop();
      if (lines.some((l) => l.trim() === word)) {
        process.stdin.off("data", onData);
        resolve();
      }
    };
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", onData);
  });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, idx)];
}

/** Summarise round-trip times (ns, Float64Array) into µs figures. */
export function latencySummary(rtts, n) {
  const s = rtts.subarray(0, n).sort();
  return {
    rtts: n,
    p50_us: percentile(s, 50) / 1e3,
    p99_us: percentile(s, 99) / 1e3,
    mean_us: s.reduce((a, b) => a + b, 0) / n / 1e3,
    max_us: s[n - 1] / 1e3,
  };
}

/**
 * The echo client's measurement, shared by every implementation: warm up for
 * `args.warmup` s, then time each `roundTrip()` for `args.duration` s and emit
 * the latency summary with this process's peak RSS and sleeps.
 */
export async function measureRoundTrips(args, roundTrip) {
  const warmEnd = nowNs() + BigInt(Math.round(args.warmup * 1e9));
  while (nowNs() < warmEnd) await roundTrip();
  const rtts = new Float64Array(4_000_000);
  let n = 0;
  const end = nowNs() + BigInt(Math.round(args.duration * 1e9));
  for (let t = nowNs(); t < end && n < rtts.length; ) {
    await roundTrip();
    const t2 = nowNs();
    rtts[n++] = Number(t2 - t);
    t = t2;
  }
  emit({ ev: "result", ...latencySummary(rtts, n), rss_kb: peakRssKb(), vcsw: sleeps() });
}

/** Messages a sender sends between two looks at its deadline: 256 for small
 * messages, fewer for large ones (about 4 MiB of payload, at least 1), so that
 * a 16 MiB run still stops near --duration. */
export function checkEvery(size) {
  return Math.min(256, Math.max(1, Math.floor((4 * 1024 * 1024) / Math.max(1, size))));
}

export function payload(size, fill = 0x61) {
  return new Uint8Array(size).fill(fill);
}

export function fail(err) {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
}
