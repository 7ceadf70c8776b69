#!/usr/bin/env node
// `pnpm bench`: one command, one run, every figure side by side.
//
//   node bench/run.mjs [--quick] [--runs N] [--duration S] [--only LIST] [--out PATH]
//
// Each endpoint is its own process (spawned here), so sender and receiver get a
// core each and RSS is per process. Every figure is the median of --runs runs,
// interleaved (run 1 of every scenario, then run 2, ...) so that drift in the
// machine's load hits all implementations alike. Ratios and targets are
// computed from those medians, in this run.
import os from "node:os";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "./lib/proc.mjs";
import { provisionPython } from "./lib/python.mjs";
import { machineInfo, cpuSnapshot, otherLoad } from "./lib/machine.mjs";
import { median, max, fmtCount, fmtNum } from "./lib/stats.mjs";
import { evaluateTargets, renderMarkdown } from "./lib/report.mjs";
import { renderCharts, chartMarkdown } from "./lib/charts.mjs";
import { roundOrder } from "./lib/rounds.mjs";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoDir = path.dirname(benchDir);

// --- options ----------------------------------------------------------------------

function parseCli(argv) {
  const o = { quick: false, runs: undefined, duration: undefined, only: [], out: undefined, hwmSeconds: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") continue;
    else if (a === "--quick") o.quick = true;
    else if (a === "--runs") o.runs = Number(argv[++i]);
    else if (a === "--echo-runs") o.echoRuns = Number(argv[++i]);
    else if (a === "--duration") o.duration = Number(argv[++i]);
    else if (a === "--hwm-seconds") o.hwmSeconds = Number(argv[++i]);
    else if (a === "--only") o.only.push(...argv[++i].split(",").filter(Boolean));
    else if (a === "--out") o.out = argv[++i];
    else if (a === "--upstream-js") o.upstreamJs = argv[++i];
    else if (a === "--baseline") o.baseline = argv[++i];
    else if (a === "--help" || a === "-h") {
      console.log(`usage: node bench/run.mjs [--quick] [--runs N] [--duration S] [--hwm-seconds S] [--only LIST] [--out PATH] [--upstream-js DIR] [--baseline DIR]

  --quick        1 run per figure, 0.5 s each, 5 s for hwm (a smoke run, ~3 min)
  --runs N       runs per figure, median reported (default 5)
  --echo-runs N  runs of each echo figure (default: 9, or --runs if more; 1 with --quick):
                 its p50 on two cores spreads wider than implementations differ
  --duration S   seconds each sender sends / each echo client measures (default 1.5)
  --only LIST    comma list of groups (oneway, sweep, placement, fanout, rr, idle, echo, alo, hwm, attack), implementations
                 (raw, zmq, ts, py) or scenario ids (e.g. ts->py, echo/raw)
                 (the sweep, with fewer runs: min(runs, 3), includes the oneway
                 points of raw, zmq, ts and py at 64 B, 1 KiB and 64 KiB)
  --out PATH     report path without extension (default bench/results/latest for a
                 full run, bench/results/tmp/<date> for --quick or --only)
  --upstream-js DIR
                 a local checkout of upstream aiomsg's Node port (its javascript-lib
                 directory; also AIOMSG_BENCH_UPSTREAM_JS=DIR): adds it as implementation
                 "up" to the one-way, echo and at-least-once groups. Never fetched here.
  --baseline DIR another checkout of this repo, already built (DIR/packages/core/dist/index.js;
                 also AIOMSG_BENCH_BASELINE=DIR): adds implementation "base", the aiomsg-ts
                 agent on that build, beside every aiomsg-ts figure of the one-way, sweep,
                 echo, at-least-once, fan-out, round-robin and hwm groups, each base run right
                 after (odd rounds) or before (even rounds) its ts run, and a table "This
                 build against the baseline". --only base selects them and their ts partners.`);
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  o.upstreamJs ??= process.env.AIOMSG_BENCH_UPSTREAM_JS || undefined;
  o.baseline ??= process.env.AIOMSG_BENCH_BASELINE || undefined;
  o.runs ??= o.quick ? 1 : 5;
  o.duration ??= o.quick ? 0.5 : 1.5;
  o.hwmSeconds ??= o.quick ? 5 : 12;
  // The sweep and the scale groups take fewer runs than the headline figures.
  o.sweepRuns = Math.min(o.runs, 3);
  // Echo on two cores: one cross-core wake-up each way decides the round
  // trip, and its p50 spread over 5 runs (61.9-77.8 µs in one run) wider
  // than the implementations differ, so its median takes more runs.
  o.echoRuns ??= o.quick ? 1 : Math.max(o.runs, 9);
  if (!(o.runs >= 1) || !(o.echoRuns >= 1) || !(o.duration > 0) || !(o.hwmSeconds > 0)) throw new Error("bad --runs/--echo-runs/--duration/--hwm-seconds");
  return o;
}

// --- scenarios ----------------------------------------------------------------------

export const IMPL = {
  raw: { name: "raw Node", script: "agents/raw.mjs", node: true },
  zmq: { name: "zeromq.js", script: "agents/zmq.mjs", node: true },
  ts: { name: "aiomsg-ts", script: "agents/aiomsg-ts.mjs", node: true },
  py: { name: "aiomsg (Python)", script: "agents/aiomsg_py.py", node: false },
  // Opt-in (--upstream-js / AIOMSG_BENCH_UPSTREAM_JS): upstream aiomsg's own Node port.
  up: { name: "aiomsg upstream Node port", script: "agents/upstream-js.mjs", node: true },
  // Opt-in (--baseline / AIOMSG_BENCH_BASELINE): the same aiomsg-ts agent on an
  // older build of this repo (AIOMSG_BENCH_LIB points it at that build's dist).
  base: { name: "aiomsg-ts baseline", script: "agents/aiomsg-ts.mjs", node: true },
};
/** aiomsg-ts agents: this build ("ts") and, with --baseline, an older one ("base"). */
const TS_AGENTS = ["ts", "base"];
export const SIZES = [64, 1024, 65536];
/** The one-way size sweep (group "sweep"): 16 B to 16 MiB, at-most-once. */
export const SWEEP_SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];
export const SWEEP_PAIRS = ["raw->raw", "zmq->zmq", "ts->ts", "py->py"];
/** aiomsg-ts refuses frames over maxFrameSize (16 MiB by default); the v1 envelope adds a header. */
const TS_DEFAULT_MAX_FRAME = 16 * 1024 * 1024;
const PAIRS = [
  ["raw", "raw"],
  ["zmq", "zmq"],
  ["ts", "ts"],
  ["py", "py"],
  ["ts", "py"],
  ["py", "ts"],
];
/**
 * The Python one-way pairs again with sender and receiver pinned (taskset), as
 * echo is: on two cores ("pin2": receiver on CPU 1, sender on CPU 0) and both
 * on one ("pin1"), at 64 B and 1 KiB (ids oneway/<pair>/<size>/<placement>).
 * Unpinned, the scheduler decides per run whether a wake-up crosses cores.
 */
export const PIN_PAIRS = ["py->py", "py->ts", "ts->py"];
export const PIN_SIZES = [64, 1024];
export const PLACEMENTS = { pin2: { receiver: 1, sender: 0 }, pin1: { receiver: 0, sender: 0 } };
const HWM_TOTAL = 2e9;
/** Fan-out (publish) and round-robin: N subscribers / workers, 64 B messages. */
export const SCALE_NS = [1, 10, 100, 1000];
export const SCALE_IMPLS = ["raw", "zmq", "ts"];
/**
 * Python aiomsg joins round-robin up to N = 100 and fan-out up to N = 10: its
 * publisher fills 100 sockets' kernel buffers far faster than one Python
 * process of 100 subscribers drains them (~50 k deliveries/s), and that
 * backlog took minutes to deliver.
 */
const SCALE_PY_MAX_N = { fanout: 10, rr: 100 };
const SCALE_SIZE = 64;
/** Idle peers on one bind socket: N = 0 is the baseline without idle peers. */
export const IDLE_NS = [0, 100, 1000, 10000];
export const IDLE_IMPLS = ["raw", "ts"];
const ECHO_SETTLE_MS = 200;
// Pinning needs taskset (util-linux) and two cores; without them echo runs
// unpinned and the pinned one-way scenarios are left out.
const PINNING = os.availableParallelism() >= 2 && spawnSync("taskset", ["-c", "0", "true"]).status === 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HWM_MSG = 65536;

// Peak RSS of a TS bind socket with default options under the attacks of
// test/reliability/isolation.test.ts (same target and attacker processes).
const FIXTURES = path.join(repoDir, "test", "reliability", "fixtures");
const MiB = 2 ** 20;
const ATTACKS = [
  { kind: "empty-flood", what: "HELLO, then empty DATA frames as fast as the target reads; the application reads 1 msg/ms", read: { everyMs: 1 }, conns: 1 },
  { kind: "pinned-flood", what: "per 64 KiB read, one 1-byte DATA frame and an unknown-type frame filling the rest; the application reads 1 msg/ms", read: { everyMs: 1 }, conns: 1 },
  { kind: "partial-frames", what: "200 connections, each sending all of a 15 MiB frame but its last byte", read: "fast", conns: 200, opts: { conns: 200 } },
];
const ATTACK_SECONDS = 8;
/** README "Guarantees and limits" at the defaults: 72 MiB plus 256 KiB per connection. */
const defaultBound = (conns) => 72 * MiB + conns * 256 * 1024;

function scenarios(opts) {
  const list = [];
  // With --baseline, each aiomsg-ts scenario gets a twin on the baseline build
  // ("base" for "ts" in its id and roles), listed right after it; \`abOf\` names
  // the twin it alternates with (see the run loop).
  const withBase = (sc) => {
    list.push(sc);
    if (!opts.baseline) return;
    const sub = (x) => (x === "ts" ? "base" : x);
    const twin = { ...sc, id: sc.id.replace(/\bts\b/g, "base"), impls: sc.impls.map(sub), abOf: sc.id };
    for (const k of ["src", "dst", "impl"]) if (k in sc) twin[k] = sub(sc[k]);
    list.push(twin);
  };
  const inSweep = (src, dst, size) => SWEEP_PAIRS.includes(`${src}->${dst}`) && SWEEP_SIZES.includes(size);
  for (const size of SIZES) {
    for (const [src, dst] of PAIRS) {
      // Points the sweep shares with the headline table run once, with the headline runs.
      const also = inSweep(src, dst, size) ? ["sweep"] : [];
      // The unpinned column of the placement table.
      if (PINNING && PIN_PAIRS.includes(`${src}->${dst}`) && PIN_SIZES.includes(size)) also.push("placement");
      const sc = { id: `oneway/${src}->${dst}/${size}`, group: "oneway", also, kind: "oneway", src, dst, size, delivery: "at-most-once", impls: [src, dst] };
      if (src === "ts" && dst === "ts") withBase(sc);
      else list.push(sc);
    }
  }
  if (PINNING) {
    for (const size of PIN_SIZES) {
      for (const pair of PIN_PAIRS) {
        const [src, dst] = pair.split("->");
        for (const placement of Object.keys(PLACEMENTS)) {
          // TS -> Python (for symmetry) drains seconds of backlog per run: min(runs, 3) runs.
          const maxRuns = src === "ts" ? opts.sweepRuns : undefined;
          list.push({ id: `oneway/${pair}/${size}/${placement}`, group: "oneway", also: ["placement"], kind: "oneway", src, dst, size, delivery: "at-most-once", impls: [src, dst], placement, maxRuns });
        }
      }
    }
  }
  for (const size of SWEEP_SIZES) {
    if (SIZES.includes(size)) continue;
    for (const pair of SWEEP_PAIRS) {
      const [src, dst] = pair.split("->");
      const maxFrame = size + 1024 > TS_DEFAULT_MAX_FRAME ? size + 64 * 1024 : undefined;
      const sc = { id: `oneway/${pair}/${size}`, group: "sweep", kind: "oneway", src, dst, size, delivery: "at-most-once", impls: [src, dst], maxRuns: opts.sweepRuns, maxFrame };
      if (pair === "ts->ts") withBase(sc);
      else list.push(sc);
    }
  }
  // The upstream Node port, only when a checkout was given: one-way to itself,
  // echo, at-least-once (its agent plays sink, source, echo and ping).
  if (opts.upstreamJs) {
    for (const size of SIZES) list.push({ id: `oneway/up->up/${size}`, group: "oneway", kind: "oneway", src: "up", dst: "up", size, delivery: "at-most-once", impls: ["up"] });
  }
  const echoImpls = opts.upstreamJs ? ["raw", "zmq", "ts", "up", "py"] : ["raw", "zmq", "ts", "py"];
  for (const placement of ["cross", "same"]) {
    for (const impl of echoImpls) {
      const sc = { id: `echo/${impl}/${placement}`, group: "echo", kind: "echo", impl, placement, size: 64, impls: [impl], runs: opts.echoRuns };
      if (impl === "ts") withBase(sc);
      else list.push(sc);
    }
  }
  for (const [group, mode] of [["fanout", "publish"], ["rr", "roundrobin"]]) {
    for (const n of SCALE_NS) {
      for (const impl of n <= SCALE_PY_MAX_N[group] ? [...SCALE_IMPLS, "py"] : SCALE_IMPLS) {
        const sc = { id: `${group}/${impl}/${n}`, group, kind: "scale", mode, impl, n, size: SCALE_SIZE, impls: [impl], maxRuns: opts.sweepRuns };
        if (impl === "ts") withBase(sc);
        else list.push(sc);
      }
    }
  }
  for (const n of IDLE_NS) {
    for (const impl of IDLE_IMPLS) list.push({ id: `idle/${impl}/${n}`, group: "idle", kind: "idle", impl, n, size: SCALE_SIZE, once: true, impls: [impl] });
  }
  withBase({ id: "alo/ts->ts/64", group: "alo", kind: "oneway", src: "ts", dst: "ts", size: 64, delivery: "at-least-once", impls: ["ts"] });
  if (opts.upstreamJs) list.push({ id: "alo/up->up/64", group: "alo", kind: "oneway", src: "up", dst: "up", size: 64, delivery: "at-least-once", impls: ["up"] });
  withBase({ id: "hwm/ts", group: "hwm", kind: "hwm", once: true, impls: ["ts"] });
  for (const a of ATTACKS) list.push({ id: `attack/${a.kind}`, group: "attack", kind: "attack", attack: a, once: true, impls: ["ts"] });
  return list;
}

function selected(sc, only) {
  if (only.length === 0) return true;
  return only.some((t) => sc.group === t || sc.also?.includes(t) || sc.impls.includes(t) || sc.id.includes(t));
}

// --- running one measurement ---------------------------------------------------

let python;
/** --baseline: that build's packages/core/dist/index.js, for the "base" agents only. */
let baselineLib;

function agent(impl, label, args, cpu, nodeFlags = []) {
  const spec = IMPL[impl];
  const cmd = spec.node ? process.execPath : python.python;
  const argv = [...(spec.node ? nodeFlags : []), spec.script, ...args.map(String)];
  const env = impl === "base" ? { ...process.env, AIOMSG_BENCH_LIB: baselineLib } : undefined;
  if (cpu !== undefined && PINNING) return new Agent(label, "taskset", ["-c", String(cpu), cmd, ...argv], { cwd: benchDir, env });
  return new Agent(label, cmd, argv, { cwd: benchDir, env });
}

async function runOneway(sc, opts) {
  const common = ["--size", sc.size, "--delivery", sc.delivery, "--duration", opts.duration];
  // aiomsg-ts agents only: both ends raise maxFrameSize for the 16 MiB point.
  const extra = (impl) => (sc.maxFrame !== undefined && TS_AGENTS.includes(impl) ? ["--max-frame", sc.maxFrame] : []);
  const cpus = sc.placement ? PLACEMENTS[sc.placement] : {};
  const sink = agent(sc.dst, `${sc.dst} sink`, ["--role", "sink", ...common, ...extra(sc.dst)], cpus.receiver);
  let source;
  try {
    const { port } = await sink.waitFor("ready", 20_000);
    source = agent(sc.src, `${sc.src} source`, ["--role", "source", "--port", port, ...common, ...extra(sc.src)], cpus.sender);
    const { t0 } = await source.waitFor("start", 20_000);
    const { count: sent } = await source.waitFor("sent", opts.duration * 1000 + 60_000);
    const res = await sink.waitFor("result", 60_000);
    let tEnd = BigInt(res.tLast);
    let acked;
    if (sc.delivery === "at-least-once") {
      acked = await source.waitFor("acked", 70_000);
      if (BigInt(acked.tAcked) > tEnd) tEnd = BigInt(acked.tAcked);
    }
    source.closeStdin();
    const { rss_kb: srcRss, dropped, vcsw: srcSleeps, cpu_s: srcCpu } = await source.waitFor("exit", 20_000);
    sink.closeStdin();
    await Promise.all([source.finish(), sink.finish()]);
    const elapsed = Number(tEnd - BigInt(t0)) / 1e9;
    const delivered = sc.delivery === "at-least-once" ? sent - (dropped ?? 0) : res.count;
    return {
      msgs_per_s: delivered / elapsed,
      mb_per_s: (delivered * sc.size) / elapsed / 1e6,
      elapsed_s: elapsed,
      sent,
      received: res.count,
      lost: Math.max(0, sent - res.count),
      dropped: dropped ?? 0,
      rss_sender_kb: srcRss,
      rss_receiver_kb: res.rss_kb,
      // Voluntary context switches per message: how often each side slept.
      sender_sleeps_per_msg: srcSleeps / sent,
      receiver_sleeps_per_msg: res.vcsw / res.count,
      // CPU per message (aiomsg-ts and Python agents): the sender's from its
      // first send until told to exit, the receiver's from its first message.
      sender_cpu_us_per_msg: (srcCpu * 1e6) / sent,
      receiver_cpu_us_per_msg: (res.cpu_s * 1e6) / res.count,
    };
  } finally {
    source?.kill();
    sink.kill();
  }
}

async function runEcho(sc, opts) {
  // Placement decides latency here more than any implementation does: on this
  // kind of VM a wake-up across vCPUs costs tens of µs, so an unpinned echo is
  // bimodal run to run. Client and server are pinned (taskset): on two cores
  // ("cross", like two hosts) or both on one ("same").
  await sleep(ECHO_SETTLE_MS);
  const [serverCpu, clientCpu] = sc.placement === "same" ? [0, 0] : [1, 0];
  const server = agent(sc.impl, `${sc.impl} echo`, ["--role", "echo", "--size", sc.size], serverCpu);
  let client;
  try {
    const { port } = await server.waitFor("ready", 20_000);
    client = agent(sc.impl, `${sc.impl} ping`, ["--role", "ping", "--port", port, "--size", sc.size, "--duration", opts.duration, "--warmup", 0.3], clientCpu);
    const res = await client.waitFor("result", opts.duration * 1000 + 30_000);
    server.closeStdin();
    const { rss_kb: serverRss } = await server.waitFor("exit", 20_000);
    await Promise.all([client.finish(), server.finish()]);
    return {
      p50_us: res.p50_us,
      p99_us: res.p99_us,
      mean_us: res.mean_us,
      round_trips_per_s: res.rtts / opts.duration,
      rss_client_kb: res.rss_kb,
      rss_server_kb: serverRss,
    };
  } finally {
    client?.kill();
    server.kill();
  }
}

async function runHwm(sc, opts) {
  const impl = sc.impls[0];
  const sink = agent(impl, `${impl} stalled sink`, ["--role", "sink", "--size", HWM_MSG]);
  let source;
  let stopped = false;
  try {
    const { port } = await sink.waitFor("ready", 20_000);
    source = agent(impl, `${impl} hwm source`, ["--role", "hwm-source", "--port", port, "--size", HWM_MSG, "--total", HWM_TOTAL, "--duration", opts.hwmSeconds]);
    await source.waitFor("connected", 20_000);
    sink.signal("SIGSTOP");
    stopped = true;
    source.write("go\n");
    const res = await source.waitFor("result", opts.hwmSeconds * 1000 + 30_000);
    await source.finish();
    return { ...res, message_size: HWM_MSG };
  } finally {
    source?.kill();
    if (stopped) sink.signal("SIGCONT");
    sink.kill();
  }
}

/** A child printing READY <port> and STATS <json> lines; resolves with the last stats on demand. */
function statsChild(args) {
  const proc = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "ignore"] });
  const c = { proc, port: 0, last: undefined };
  createInterface({ input: proc.stdout }).on("line", (l) => {
    if (l.startsWith("READY")) c.port = Number(l.slice(6)) || -1;
    else if (l.startsWith("STATS ")) c.last = JSON.parse(l.slice(6));
  });
  return c;
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function runAttack(sc) {
  const a = sc.attack;
  const lib = path.join(repoDir, "packages", "core", "dist", "index.js");
  const target = statsChild([path.join(FIXTURES, "target-child.mjs"), lib, JSON.stringify({ socket: {}, read: a.read })]);
  let attacker;
  try {
    await until(() => target.port !== 0 && target.last, 20_000, "the target");
    const baseline = target.last.rss;
    attacker = statsChild([path.join(FIXTURES, "attacker-child.mjs"), a.kind, String(target.port), JSON.stringify(a.opts ?? {})]);
    await sleep(ATTACK_SECONDS * 1000);
    const s = target.last;
    return {
      what: a.what,
      seconds: ATTACK_SECONDS,
      baseline_rss_kb: baseline / 1024,
      peak_rss_kb: s.peakRss / 1024,
      bound_kb: defaultBound(a.conns + 1) / 1024,
      attacker_written_mb: (attacker.last?.written ?? 0) / 1e6,
      errors: s.errors,
    };
  } finally {
    attacker?.proc.kill("SIGKILL");
    target.proc.kill("SIGKILL");
  }
}

/**
 * Fan-out / round-robin: a hub process (role pub) and ONE process holding all N
 * subscriber/worker connections (role subs), so the N receivers share a core.
 */
async function runScale(sc, opts) {
  const common = ["--mode", sc.mode, "--n", sc.n, "--size", sc.size, "--duration", opts.duration];
  const hub = agent(sc.impl, `${sc.impl} hub`, ["--role", "pub", ...common]);
  let subs;
  try {
    const { port } = await hub.waitFor("ready", 20_000);
    subs = agent(sc.impl, `${sc.impl} subs`, ["--role", "subs", "--port", port, ...common]);
    // publish: every connection has seen a probe; round-robin: the hub has N peers.
    if (sc.mode === "publish") await subs.waitFor("ready", 120_000);
    else await hub.waitFor("peers", 120_000);
    hub.write("go\n");
    const { t0 } = await hub.waitFor("start", 20_000);
    const { count: sent, dropped_reported } = await hub.waitFor("sent", opts.duration * 1000 + 60_000);
    const expected = sc.mode === "publish" ? sc.n * sent : sent;
    subs.write(`expect ${expected}\n`);
    const res = await subs.waitFor("result", 180_000);
    hub.write("cpu\n");
    const cpu = await hub.waitFor("cpu", 20_000);
    hub.closeStdin();
    subs.closeStdin();
    await Promise.all([hub.finish(), subs.finish()]);
    const elapsed = Number(BigInt(res.tLast) - BigInt(t0)) / 1e9;
    return {
      deliveries_per_s: res.count / elapsed,
      elapsed_s: elapsed,
      sent,
      expected,
      received: res.count,
      dropped: expected - res.count,
      dropped_reported,
      min_per_conn: res.min_per_conn,
      max_per_conn: res.max_per_conn,
      sender_cpu_s: cpu.cpu_s,
      sender_cpu_core: cpu.cpu_s / elapsed,
      sender_cpu_us_per_delivery: res.count ? (cpu.cpu_s * 1e6) / res.count : NaN,
      rss_pub_kb: cpu.rss_kb,
      rss_subs_kb: res.rss_kb,
    };
  } finally {
    subs?.kill();
    hub.kill();
  }
}

/**
 * Idle peers: a hub (role idle-hub, --expose-gc) with default options; one
 * process opens N connections (role idle-peers); the hub's memory after a
 * settle, minus its baseline, per peer; then one active source sends one-way
 * to the hub among them.
 */
async function runIdle(sc, opts) {
  const hub = agent(sc.impl, `${sc.impl} idle hub`, ["--role", "idle-hub", "--n", sc.n], undefined, ["--expose-gc"]);
  let peers;
  let source;
  try {
    const { port, base } = await hub.waitFor("ready", 20_000);
    let acceptsPerS = NaN;
    if (sc.n > 0) {
      peers = agent(sc.impl, `${sc.impl} idle peers`, ["--role", "idle-peers", "--port", port, "--n", sc.n]);
      const { t0 } = await peers.waitFor("start", 20_000);
      const { tN } = await hub.waitFor("peers", 300_000);
      acceptsPerS = sc.n / (Number(BigInt(tN) - BigInt(t0)) / 1e9);
    }
    hub.write("settle\n");
    const mem = await hub.waitFor("mem", 60_000);
    source = agent(sc.impl, `${sc.impl} source`, ["--role", "source", "--port", port, "--size", sc.size, "--duration", opts.duration]);
    const { t0: ts0 } = await source.waitFor("start", 60_000);
    const { count: sent } = await source.waitFor("sent", opts.duration * 1000 + 60_000);
    const res = await hub.waitFor("result", 60_000);
    source.closeStdin();
    hub.closeStdin();
    let rssPeers = NaN;
    if (peers) {
      peers.closeStdin();
      rssPeers = (await peers.waitFor("exit", 20_000)).rss_kb;
    }
    await Promise.all([hub.finish(), source.finish(), peers?.finish()]);
    const elapsed = Number(BigInt(res.tLast) - BigInt(ts0)) / 1e9;
    const per = (k) => (sc.n > 0 ? (mem[k] - base[k]) / sc.n : NaN);
    return {
      n: sc.n,
      bytes_per_peer: per("rss"),
      heap_ext_bytes_per_peer: sc.n > 0 ? (mem.heapUsed + mem.external - base.heapUsed - base.external) / sc.n : NaN,
      heap_bytes_per_peer: per("heapUsed"),
      external_bytes_per_peer: per("external"),
      accepts_per_s: acceptsPerS,
      active_msgs_per_s: res.count / elapsed,
      active_sent: sent,
      active_received: res.count,
      peers_at_settle: mem.peers,
      peers_at_end: res.peers,
      rss_hub_base_kb: base.rss / 1024,
      rss_hub_settled_kb: mem.rss / 1024,
      rss_hub_kb: res.rss_kb,
      rss_peers_kb: rssPeers,
    };
  } finally {
    source?.kill();
    peers?.kill();
    hub.kill();
  }
}

const RUNNERS = { idle: runIdle, scale: runScale, oneway: runOneway, echo: runEcho, hwm: runHwm, attack: runAttack };

function describe(sc, r) {
  if (r.error) return `error: ${r.error.split("\n")[0]}`;
  if (sc.kind === "oneway") {
    const extra = r.lost ? `, ${r.lost} lost` : r.dropped ? `, ${r.dropped} dropped` : "";
    const cpu = Number.isFinite(r.sender_cpu_us_per_msg) && Number.isFinite(r.receiver_cpu_us_per_msg)
      ? `, CPU ${fmtNum(r.sender_cpu_us_per_msg)}/${fmtNum(r.receiver_cpu_us_per_msg)} µs/msg, receiver sleeps ${fmtNum(r.receiver_sleeps_per_msg)}/msg`
      : "";
    return `${fmtCount(r.msgs_per_s)} msg/s, ${fmtNum(r.mb_per_s)} MB/s${extra}${cpu} (RSS ${Math.round(r.rss_sender_kb / 1024)}/${Math.round(r.rss_receiver_kb / 1024)} MiB)`;
  }
  if (sc.kind === "scale") {
    const drop = r.dropped ? `, ${r.dropped} of ${r.expected} dropped` : "";
    return `${fmtCount(r.deliveries_per_s)} deliveries/s${drop}, sender ${fmtNum(r.sender_cpu_core)} core, ${fmtNum(r.sender_cpu_us_per_delivery)} µs/delivery (RSS ${Math.round(r.rss_pub_kb / 1024)}/${Math.round(r.rss_subs_kb / 1024)} MiB)`;
  }
  if (sc.kind === "idle") {
    return `${sc.n} peers: ${fmtNum(r.bytes_per_peer / 1024)} KiB RSS/peer (${fmtNum(r.heap_ext_bytes_per_peer / 1024)} KiB heap+ext), ${fmtCount(r.accepts_per_s)} accepts/s, active ${fmtCount(r.active_msgs_per_s)} msg/s (hub RSS ${Math.round(r.rss_hub_kb / 1024)} MiB)`;
  }
  if (sc.kind === "echo") return `p50 ${fmtNum(r.p50_us)} µs, p99 ${fmtNum(r.p99_us)} µs`;
  if (sc.kind === "attack") return `peak RSS ${(r.peak_rss_kb / 1024).toFixed(0)} MiB (baseline ${(r.baseline_rss_kb / 1024).toFixed(0)} MiB; bound ${(r.bound_kb / 1024).toFixed(0)} MiB + runtime)`;
  return `accepted ${(r.accepted_bytes / 2 ** 20).toFixed(0)} MiB of ${(HWM_TOTAL / 1e9).toFixed(0)} GB, peak RSS ${(r.peak_rss_kb / 1024).toFixed(0)} MiB`;
}

// --- aggregation ---------------------------------------------------------------------

function aggregate(sc, runs) {
  const ok = runs.filter((r) => !r.error);
  const errors = runs.filter((r) => r.error).map((r) => r.error);
  const pick = (k) => ok.map((r) => r[k]);
  let summary;
  if (ok.length === 0) summary = undefined;
  else if (sc.kind === "oneway") {
    summary = {
      msgs_per_s: median(pick("msgs_per_s")),
      msgs_per_s_min: Math.min(...pick("msgs_per_s")),
      msgs_per_s_max: max(pick("msgs_per_s")),
      mb_per_s: median(pick("mb_per_s")),
      sender_sleeps_per_msg: median(pick("sender_sleeps_per_msg")),
      receiver_sleeps_per_msg: median(pick("receiver_sleeps_per_msg")),
      sender_cpu_us_per_msg: median(pick("sender_cpu_us_per_msg")),
      receiver_cpu_us_per_msg: median(pick("receiver_cpu_us_per_msg")),
      lost: ok.reduce((a, r) => a + r.lost, 0),
      dropped: ok.reduce((a, r) => a + r.dropped, 0),
      rss_sender_kb: max(pick("rss_sender_kb")),
      rss_receiver_kb: max(pick("rss_receiver_kb")),
    };
  } else if (sc.kind === "echo") {
    summary = {
      p50_us: median(pick("p50_us")),
      p99_us: median(pick("p99_us")),
      round_trips_per_s: median(pick("round_trips_per_s")),
      rss_client_kb: max(pick("rss_client_kb")),
      rss_server_kb: max(pick("rss_server_kb")),
    };
  } else if (sc.kind === "scale") {
    const sum = (k) => ok.reduce((a, r) => a + r[k], 0);
    summary = {
      deliveries_per_s: median(pick("deliveries_per_s")),
      sent: sum("sent"),
      received: sum("received"),
      dropped: sum("dropped"),
      sender_cpu_core: median(pick("sender_cpu_core")),
      sender_cpu_us_per_delivery: median(pick("sender_cpu_us_per_delivery")),
      min_per_conn: Math.min(...pick("min_per_conn")),
      max_per_conn: max(pick("max_per_conn")),
      rss_pub_kb: max(pick("rss_pub_kb")),
      rss_subs_kb: max(pick("rss_subs_kb")),
    };
  } else summary = { ...ok[0] };
  return { ...sc, runs, summary, errors };
}

/** The upstream checkout's package version and commit (never its path). */
function upstreamVersion(dir) {
  let v = "unknown";
  try {
    v = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).version;
  } catch {}
  const git = spawnSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  return git.status === 0 ? `${v} (${git.stdout.trim()})` : v;
}

/** The baseline checkout's package version and short commit (never its path). */
function baselineVersion(dir) {
  let version = "unknown";
  try {
    version = JSON.parse(readFileSync(path.join(dir, "packages", "core", "package.json"), "utf8")).version;
  } catch {}
  const git = spawnSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  return { version, commit: git.status === 0 ? git.stdout.trim() : "unknown" };
}

/** The command line as the report shows it: local checkouts' paths become "DIR". */
function redactDirs(argv) {
  return argv.map((a, i) => (i > 0 && (argv[i - 1] === "--baseline" || argv[i - 1] === "--upstream-js") ? "DIR" : a));
}

/** --only: the scenarios it names; a baseline twin brings the ts scenario it is compared with. */
function choose(list, only) {
  const picked = new Set(list.filter((sc) => selected(sc, only)).map((sc) => sc.id));
  for (const sc of list) if (sc.abOf && picked.has(sc.id)) picked.add(sc.abOf);
  return list.filter((sc) => picked.has(sc.id));
}

// --- main ---------------------------------------------------------------------------

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const started = Date.now();
  const cpuStart = cpuSnapshot();
  const log = (s) => console.log(s);
  const all = choose(scenarios(opts), opts.only);
  if (all.length === 0) throw new Error(`--only ${opts.only.join(",")} selects nothing`);
  let baseline;
  if (opts.baseline) {
    // The "base" agents import it from their environment; the report names its commit, never the path.
    baselineLib = path.resolve(opts.baseline, "packages", "core", "dist", "index.js");
    if (!existsSync(baselineLib)) {
      throw new Error(`--baseline ${opts.baseline}: no packages/core/dist/index.js there (a checkout of aiomsg-ts at another commit, built with \`pnpm build\`)`);
    }
    baseline = baselineVersion(opts.baseline);
  }

  if (opts.upstreamJs) {
    // The agents import it from the environment; the path is not written to the report.
    if (!existsSync(path.join(opts.upstreamJs, "src", "index.js"))) throw new Error(`--upstream-js ${opts.upstreamJs}: no src/index.js there`);
    process.env.AIOMSG_BENCH_UPSTREAM_JS = path.resolve(opts.upstreamJs);
  }
  python = all.some((sc) => sc.impls.includes("py")) ? await provisionPython(benchDir, log) : { skipped: true };
  if (python.error) log(`Python scenarios skipped: ${python.error}`);
  let libzmq = "unknown";
  try {
    libzmq = (await import("zeromq")).version;
  } catch (err) {
    log(`zeromq.js unavailable: ${err.message}`);
  }
  const machine = machineInfo(repoDir, {
    python: python.pythonVersion ?? "n/a",
    aiomsg_python: python.aiomsg ?? "n/a",
    libzmq,
    ...(opts.upstreamJs ? { upstream_js: upstreamVersion(opts.upstreamJs) } : {}),
    ...(baseline ? { baseline } : {}),
  });
  log(`aiomsg-ts bench: ${opts.runs} run(s) per figure, ${opts.duration} s each; ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, python ${machine.python}`);

  const unavailable = (sc) => (sc.impls.includes("py") && python.error ? python.error : sc.impls.includes("zmq") && libzmq === "unknown" ? "zeromq.js did not load" : undefined);
  const results = new Map(all.map((sc) => [sc.id, []]));
  // Rounds: opts.runs, or more for figures that take more runs (echo); a figure
  // with fewer (maxRuns: sweep, fan-out, round-robin) sits out the later rounds.
  const rounds = Math.max(opts.runs, ...all.map((sc) => sc.runs ?? 0));
  for (let r = 1; r <= rounds; r++) {
    // A baseline twin runs next to its ts scenario, alternating which goes first.
    for (const sc of roundOrder(all, r)) {
      if (sc.once && r > 1) continue;
      if (r > (sc.runs ?? sc.maxRuns ?? opts.runs)) continue;
      const why = unavailable(sc);
      let res;
      if (why) res = { error: `skipped: ${why}` };
      else {
        try {
          res = await RUNNERS[sc.kind](sc, opts);
        } catch (err) {
          res = { error: err.message };
        }
      }
      results.get(sc.id).push(res);
      log(`[${r}/${rounds}] ${sc.id.padEnd(27)} ${describe(sc, res)}`);
    }
  }

  const scen = all.map((sc) => aggregate(sc, results.get(sc.id)));
  const byId = Object.fromEntries(scen.map((s) => [s.id, s]));
  const targets = evaluateTargets(byId);
  const wall = (Date.now() - started) / 1000;
  machine.loadavg_at_end = os.loadavg().map((x) => +x.toFixed(2));
  // Figures are only as good as the machine was quiet: CPU that other processes
  // used during the run (our agents are reaped children, so they count as ours).
  machine.disturbance = otherLoad(cpuStart, cpuSnapshot());
  const report = {
    schema: 1,
    date: new Date(started).toISOString(),
    wall_time_s: +wall.toFixed(1),
    command: `node bench/run.mjs ${redactDirs(process.argv.slice(2)).join(" ")}`.trim(),
    config: { echo_pinned: PINNING, oneway_pinned: PINNING ? Object.keys(PLACEMENTS) : [], runs: opts.runs, echo_runs: opts.echoRuns, sweep_runs: opts.sweepRuns, duration_s: opts.duration, hwm_seconds: opts.hwmSeconds, hwm_offered_bytes: HWM_TOTAL, quick: opts.quick, only: opts.only },
    machine,
    targets,
    scenarios: byId,
  };
  const partial = opts.quick || opts.only.length > 0;
  const out = opts.out ?? (partial ? path.join(benchDir, "results", "tmp", new Date(started).toISOString().replace(/[:.]/g, "-")) : path.join(benchDir, "results", "latest"));
  mkdirSync(path.dirname(out), { recursive: true });
  // The sweeps' charts: <out>-<name>.svg beside <out>.md, embedded in it.
  const charts = renderCharts(report);
  for (const c of charts) writeFileSync(`${out}-${c.name}.svg`, c.svg);
  const md = renderMarkdown(report, { IMPL, SIZES, SWEEP_SIZES, chartsMd: chartMarkdown(charts, `${path.basename(out)}-`) });
  writeFileSync(`${out}.json`, JSON.stringify(report, null, 2) + "\n");
  writeFileSync(`${out}.md`, md);
  log("");
  log(md);
  log(`wrote ${path.relative(process.cwd(), out)}.{json,md}${charts.length ? ` and ${charts.length} chart(s) ${path.basename(out)}-*.svg` : ""} in ${wall.toFixed(0)} s`);
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
