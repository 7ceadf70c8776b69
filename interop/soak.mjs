#!/usr/bin/env node
// Soak: sustained two-way at-least-once traffic between an aiomsg-ts connect
// socket and a real Python aiomsg 2026.7.1 bind peer (interop/soak/peer.py),
// with the Python peer SIGKILLed and restarted on the same port at intervals.
//
//   pnpm soak -- --minutes 10        (builds, then runs this against packages/core/dist)
//   node interop/soak.mjs --minutes 0.5 [--report-every S] [--restart-every S]
//        [--rate N] [--py-rate N] [--lib path/to/index.js] [--json]
//
// Every report interval it prints messages sent/received each way, losses,
// duplicates, restarts, RSS, heap (after a forced GC) and open handles
// (process.getActiveResourcesInfo().length). At the end it drains, then gives a
// verdict and exits non-zero on any loss or on growth after warm-up.
//
// What counts as a loss (at-least-once promises):
//   TS → Python: every message TS accepted must reach the Python peer at least
//     once, across any number of restarts (the TS sender outlives them). Also any
//     `dropped` event on the TS socket.
//   Python → TS: within one Python incarnation, every message up to the last one
//     TS received must have arrived (one TCP connection, in order). Messages still
//     unacknowledged when that incarnation is SIGKILLed die with their sender:
//     nothing promised them; they are counted and reported as "died with sender".
//
// Flat (after warm-up = the first quarter of the run, at least 5 s): compare the
// median of the first and of the last samples of the remaining run (1 sample/s):
//   RSS          grows by at most max(32 MiB, 25%)
//   heap (post-GC) grows by at most max(8 MiB, 25%)
//   handles      grows by at most 4
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { provisionPython } from "./lib/python.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
const PEER = path.join(HERE, "soak", "peer.py");
const MIB = 2 ** 20;

export const TOLERANCE = {
  rssBytes: 32 * MIB,
  rssRatio: 0.25,
  heapBytes: 8 * MIB,
  heapRatio: 0.25,
  handles: 4,
};

/** Parses the command line; throws a TypeError with a usage message on bad input. */
export function parseArgs(argv) {
  const opts = {
    minutes: 10,
    reportEvery: undefined,
    restartEvery: undefined,
    rate: 200,
    pyRate: 100,
    lib: path.join(REPO, "packages", "core", "dist", "index.js"),
    json: false,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new TypeError(`--${name} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") continue; // `pnpm soak -- --minutes N` may pass the separator through
    switch (a) {
      case "--minutes":
        opts.minutes = num("minutes", argv[++i]);
        break;
      case "--report-every":
        opts.reportEvery = num("report-every", argv[++i]);
        break;
      case "--restart-every":
        opts.restartEvery = num("restart-every", argv[++i]);
        break;
      case "--rate":
        opts.rate = num("rate", argv[++i]);
        break;
      case "--py-rate":
        opts.pyRate = num("py-rate", argv[++i]);
        break;
      case "--lib":
        opts.lib = path.resolve(argv[++i] ?? "");
        break;
      case "--json":
        opts.json = true;
        break;
      default:
        throw new TypeError(`unknown argument ${a}\nusage: soak.mjs --minutes N [--report-every S] [--restart-every S] [--rate N] [--py-rate N] [--lib index.js] [--json]`);
    }
  }
  const total = opts.minutes * 60;
  opts.reportEvery ??= Math.min(10, Math.max(2, total / 8));
  opts.restartEvery ??= Math.min(30, Math.max(4, total / 6));
  return opts;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Judges resource samples taken after warm-up. */
export function flatness(samples, tol = TOLERANCE) {
  const k = Math.max(3, Math.floor(samples.length / 5));
  if (samples.length < 2 * k) return { ok: false, reason: `too few samples after warm-up (${samples.length})` };
  const first = samples.slice(0, k);
  const last = samples.slice(-k);
  const m = (xs, key) => median(xs.map((s) => s[key]));
  const rss = { from: m(first, "rss"), to: m(last, "rss") };
  const heap = { from: m(first, "heap"), to: m(last, "heap") };
  const handles = { from: Math.max(...first.map((s) => s.handles)), to: Math.max(...last.map((s) => s.handles)) };
  const rssLimit = Math.max(tol.rssBytes, rss.from * tol.rssRatio);
  const heapLimit = Math.max(tol.heapBytes, heap.from * tol.heapRatio);
  const checks = {
    rss: { ...rss, growth: rss.to - rss.from, limit: rssLimit, ok: rss.to - rss.from <= rssLimit },
    heap: { ...heap, growth: heap.to - heap.from, limit: heapLimit, ok: heap.to - heap.from <= heapLimit },
    handles: { ...handles, growth: handles.to - handles.from, limit: tol.handles, ok: handles.to - handles.from <= tol.handles },
  };
  return { ok: checks.rss.ok && checks.heap.ok && checks.handles.ok, checks };
}

function forcedGc() {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc");
}

/** One Python incarnation: a child process and what it said on stdout. */
class PythonPeer {
  constructor(python, epoch, port, pyRate, onRecv) {
    this.epoch = epoch;
    this.sent = 0;
    this.port = 0;
    this.stderr = [];
    this.proc = spawn(
      python,
      [PEER, "--role", "bind", "--port", String(port), "--delivery", "at-least-once", "--print-recv", "--print-sent",
        "--source-prefix", `p${epoch}:`, "--source-interval", String(1 / pyRate)],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    );
    this.exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.ready = new Promise((resolve, reject) => {
      this.proc.once("exit", (code, sig) => reject(new Error(`python peer exited (${code ?? sig}) before READY: ${this.stderr.join("\n")}`)));
      createInterface({ input: this.proc.stdout }).on("line", (line) => {
        if (line.startsWith("R ")) onRecv(line.slice(2));
        else if (line.startsWith("S ")) this.sent = Number(line.slice(2));
        else if (line.startsWith("READY ")) {
          this.port = Number(line.slice(6));
          resolve(this.port);
        }
      });
    });
    createInterface({ input: this.proc.stderr }).on("line", (l) => {
      this.stderr.push(l);
      if (this.stderr.length > 50) this.stderr.shift();
    });
  }

  async kill(signal = "SIGKILL") {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

/**
 * Which sequence numbers arrived, in O(out-of-order) memory: everything below
 * `low` arrived, `above` holds what arrived beyond it. The soak's own
 * bookkeeping must stay flat, or it would mask (or fake) growth of the library.
 */
export class SeqTracker {
  low = 0;
  max = -1;
  count = 0;
  duplicates = 0;
  above = new Set();

  add(i) {
    if (i < this.low || this.above.has(i)) {
      this.duplicates++;
      return;
    }
    this.count++;
    if (i > this.max) this.max = i;
    if (i === this.low) {
      this.low++;
      while (this.above.delete(this.low)) this.low++;
    } else {
      this.above.add(i);
    }
  }

  has(i) {
    return i < this.low || this.above.has(i);
  }

  /** Sequence numbers below `end` that never arrived (first `limit` of them, and how many). */
  missing(end, limit = 20) {
    const sample = [];
    let n = 0;
    for (let i = this.low; i < end; i++) {
      if (!this.above.has(i)) {
        n++;
        if (sample.length < limit) sample.push(i);
      }
    }
    return { count: n, sample };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(cond, ms) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Runs the soak; resolves with the result (never exits the process).
 * @param {ReturnType<typeof parseArgs>} opts
 * @param {(line: string) => void} log
 */
export async function runSoak(opts, log = (l) => console.log(l)) {
  const lib = await import(pathToFileURL(opts.lib).href);
  const python = await provisionPython("v1", { log });
  const gc = forcedGc();
  const totalMs = opts.minutes * 60_000;
  const warmupMs = Math.max(5_000, totalMs / 4);

  // --- state ---------------------------------------------------------------------
  let tsSent = 0;
  const ts = new SeqTracker(); // t-indices the Python peer printed
  const dropped = [];
  let droppedCount = 0;
  const pyEpochs = new Map(); // epoch -> { seq: SeqTracker, sentAtKill }
  let restarts = 0;
  let reconnects = 0;
  const samples = [];

  const onPyRecv = (text) => {
    if (text.startsWith("t")) ts.add(Number(text.slice(1)));
  };
  const epochOf = (e) => {
    let s = pyEpochs.get(e);
    if (!s) pyEpochs.set(e, (s = { seq: new SeqTracker(), sentAtKill: undefined }));
    return s;
  };
  const pyTotals = () => {
    let received = 0;
    let duplicates = 0;
    for (const { seq } of pyEpochs.values()) {
      received += seq.count;
      duplicates += seq.duplicates;
    }
    return { received, duplicates };
  };

  // --- the TS side -----------------------------------------------------------------
  const sock = new lib.Socket({ deliveryGuarantee: "at-least-once", resendInterval: 1000, maxResends: 20, reconnectionDelay: 100 });
  sock.on("dropped", (d) => {
    droppedCount++;
    if (dropped.length < 5) dropped.push({ code: d.code, payload: d.payload.toString() });
  });
  sock.on("peerConnected", () => reconnects++);
  const reader = (async () => {
    for await (const payload of sock.messages()) {
      const text = payload.toString();
      const m = /^p(\d+):(\d+)$/.exec(text);
      if (m) epochOf(Number(m[1])).seq.add(Number(m[2]));
    }
  })();

  let epoch = 0;
  let py = new PythonPeer(python, epoch, 0, opts.pyRate, onPyRecv);
  const port = await py.ready;
  await sock.connect("127.0.0.1", port);
  log(`[soak] ${opts.minutes} min against Python aiomsg 2026.7.1 on port ${port}: TS ${opts.rate} msg/s, Python ${opts.pyRate} msg/s, ` +
    `SIGKILL+restart every ${opts.restartEvery} s, report every ${opts.reportEvery} s, warm-up ${(warmupMs / 1000).toFixed(1)} s, lib ${path.relative(process.cwd(), opts.lib)}`);

  const t0 = Date.now();
  let sending = true;
  const sender = (async () => {
    const perTick = Math.max(1, Math.round(opts.rate / 100));
    let next = Date.now();
    while (sending) {
      for (let k = 0; k < perTick; k++) await sock.send(`t${tsSent++}`);
      next += (perTick * 1000) / opts.rate;
      await sleep(Math.max(0, next - Date.now()));
    }
  })();

  const restarter = (async () => {
    let at = t0 + opts.restartEvery * 1000;
    while (at < t0 + totalMs - 2000) {
      await sleep(at - Date.now());
      epochOf(epoch).sentAtKill = py.sent;
      await py.kill("SIGKILL");
      epoch++;
      restarts++;
      py = new PythonPeer(python, epoch, port, opts.pyRate, onPyRecv);
      await py.ready;
      at += opts.restartEvery * 1000;
    }
  })();

  const snapshot = () => {
    gc();
    const mem = process.memoryUsage();
    return { t: Date.now() - t0, rss: mem.rss, heap: mem.heapUsed, handles: process.getActiveResourcesInfo().length };
  };
  const sampler = setInterval(() => {
    const s = snapshot();
    if (s.t >= warmupMs) samples.push(s);
  }, 1000);
  const report = () => {
    const s = snapshot();
    const tot = pyTotals();
    log(`[soak] t=${(s.t / 1000).toFixed(0)}s ts->py sent ${tsSent} delivered ${ts.count} (dup ${ts.duplicates}) | ` +
      `py->ts received ${tot.received} (dup ${tot.duplicates}) | restarts ${restarts} reconnects ${reconnects} | dropped ${droppedCount} | ` +
      `rss ${(s.rss / MIB).toFixed(1)} MiB heap ${(s.heap / MIB).toFixed(1)} MiB handles ${s.handles}`);
  };
  const reporter = setInterval(report, opts.reportEvery * 1000);

  await sleep(Math.max(0, t0 + totalMs - Date.now()));
  sending = false;
  await sender;
  await restarter;
  clearInterval(sampler);
  clearInterval(reporter);

  // --- drain: everything TS sent must reach the (last) Python peer ---------------------
  const drained = await waitUntil(() => ts.low >= tsSent, 30_000);
  // The last incarnation is not killed: let what it has reported sent arrive
  // (it keeps sending meanwhile; only gaps below the highest arrival count).
  const lastSent = py.sent;
  await waitUntil(() => epochOf(epoch).seq.low >= lastSent, 10_000);
  report();
  // Close while the peer is still up: the linger lets the last acknowledgements
  // arrive; anything still unacknowledged after it is a `dropped` event (a loss).
  await sock.close({ linger: 5000 });
  await reader;
  await py.kill("SIGTERM");

  // --- verdict ---------------------------------------------------------------------------
  const tsMissing = ts.missing(tsSent);
  let pyGaps = 0;
  let diedWithSender = 0;
  const gapSamples = [];
  for (const [e, { seq, sentAtKill }] of pyEpochs) {
    const gaps = seq.missing(seq.max + 1);
    pyGaps += gaps.count;
    for (const i of gaps.sample) if (gapSamples.length < 20) gapSamples.push(`p${e}:${i}`);
    if (sentAtKill !== undefined) diedWithSender += Math.max(0, sentAtKill - (seq.max + 1));
  }
  const pyT = pyTotals();
  const flat = flatness(samples);
  const lost = tsMissing.count + droppedCount + pyGaps;
  const result = {
    ok: lost === 0 && drained && flat.ok,
    minutes: opts.minutes,
    restarts,
    reconnects,
    tsToPy: { sent: tsSent, delivered: ts.count, missing: tsMissing.count, missingSample: tsMissing.sample, duplicates: ts.duplicates },
    pyToTs: { received: pyT.received, gaps: pyGaps, gapSample: gapSamples, duplicates: pyT.duplicates, diedWithSender },
    dropped: droppedCount,
    droppedSample: dropped,
    flat,
    samples: samples.length,
  };
  const fmt = (c) => `${(c.from / MIB).toFixed(1)} -> ${(c.to / MIB).toFixed(1)} MiB (limit +${(c.limit / MIB).toFixed(1)})`;
  log(`[soak] ts->py: ${tsSent} sent, ${tsMissing.count} lost, ${ts.duplicates} duplicates; py->ts: ${pyT.received} received, ${pyGaps} lost, ` +
    `${pyT.duplicates} duplicates, ${diedWithSender} unacknowledged when their sender was SIGKILLed (not promised); dropped events ${droppedCount}`);
  if (flat.checks) {
    log(`[soak] after warm-up (${samples.length} samples): rss ${fmt(flat.checks.rss)}, heap ${fmt(flat.checks.heap)}, ` +
      `handles ${flat.checks.handles.from} -> ${flat.checks.handles.to} (limit +${flat.checks.handles.limit})`);
  } else {
    log(`[soak] flatness not judged: ${flat.reason}`);
  }
  log(`[soak] verdict: ${result.ok ? "PASS" : "FAIL"}${lost ? ` (${lost} lost)` : ""}${drained ? "" : " (did not drain)"}${flat.ok ? "" : " (resources not flat)"}`);
  if (opts.json) log(`SOAK_RESULT ${JSON.stringify(result)}`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  runSoak(opts).then(
    (r) => process.exit(r.ok ? 0 : 1),
    (err) => {
      console.error(`[soak] failed: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}
