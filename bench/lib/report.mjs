// Targets (computed from this run's medians) and the markdown report.
import { fmtCount, fmtNum, fmtDuration, median } from "./stats.mjs";

const MB = 1e6;
const rssMB = (kb) => (Number.isFinite(kb) ? `${Math.round((kb * 1024) / MB)}` : "n/a");
const sizeName = (s) => (s >= 1048576 ? `${s / 1048576} MiB` : s >= 1024 ? `${s / 1024} KiB` : `${s} B`);

const PAIR_LABELS = {
  "raw->raw": "raw Node `net` (batched frames)",
  "zmq->zmq": "zeromq.js PUSH → PULL",
  "ts->ts": "**aiomsg-ts → aiomsg-ts**",
  "py->py": "Python aiomsg → Python aiomsg",
  "ts->py": "aiomsg-ts → Python aiomsg",
  "py->ts": "Python aiomsg → aiomsg-ts",
  "up->up": "upstream Node port → itself",
};
const ECHO_LABELS = {
  raw: "raw Node `net` (one frame in flight)",
  zmq: "zeromq.js REQ ↔ REP",
  ts: "**aiomsg-ts ↔ aiomsg-ts**",
  py: "Python aiomsg ↔ Python aiomsg",
  up: "upstream Node port ↔ itself",
};

/** The size sweep's points (bench/run.mjs SWEEP_SIZES). */
const SCALE_NS = [1, 10, 100, 1000];
const IDLE_NS = [0, 100, 1000, 10000];
const SWEEP = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

function s(byId, id) {
  return byId[id]?.summary;
}

/** The baseline build (--baseline) as the report names it: its short commit, never its path. */
const baselineName = (m) => `aiomsg-ts baseline (${m.baseline?.commit ?? "unknown"})`;

/**
 * This build against the baseline (--baseline): each figure that both builds
 * measured, as [label, ts id, base id, run field, lower is better, format].
 */
function baselineFigures(sc) {
  const rows = [];
  const rate = (x) => fmtCount(x);
  for (const z of SWEEP) rows.push([`one-way ${sizeName(z)} (msg/s)`, `oneway/ts->ts/${z}`, `oneway/base->base/${z}`, "msgs_per_s", false, rate]);
  rows.push(["at-least-once 64 B (msg/s)", "alo/ts->ts/64", "alo/base->base/64", "msgs_per_s", false, rate]);
  for (const [pl, where] of [["cross", "two cores"], ["same", "one core"]]) {
    for (const q of ["p50", "p99"]) rows.push([`echo ${q}, ${where} (µs)`, `echo/ts/${pl}`, `echo/base/${pl}`, `${q}_us`, true, fmtNum]);
  }
  for (const [g, what] of [["fanout", "publish to"], ["rr", "round-robin to"]]) {
    for (const n of SCALE_NS) rows.push([`${what} N = ${n.toLocaleString("en-US")} (deliveries/s)`, `${g}/ts/${n}`, `${g}/base/${n}`, "deliveries_per_s", false, rate]);
  }
  rows.push(["bounded memory: peak sender RSS (MB)", "hwm/ts", "hwm/base", "peak_rss_kb", true, (kb) => rssMB(kb)]);
  return rows.filter(([, a, b]) => sc[a] && sc[b]);
}

/** Median, min and max of one field over a scenario's successful runs. */
function spread(x, field) {
  const v = (x?.runs ?? []).filter((r) => !r.error).map((r) => r[field]).filter(Number.isFinite);
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : undefined;
}

/** "within spread" when the two builds' run ranges overlap, else which way this build lies. */
export function verdict(mine, base, lowerIsBetter) {
  if (mine.min <= base.max && base.min <= mine.max) return "within spread";
  const higher = mine.min > base.max;
  return higher !== lowerIsBetter ? "better" : "worse";
}

function renderBaseline(report, L) {
  const sc = report.scenarios;
  const rows = baselineFigures(sc);
  if (!rows.length) return;
  const m = report.machine;
  L.push("## This build against the baseline");
  L.push("");
  L.push(`This build (${m.git}) against the build of commit ${m.baseline?.commit ?? "unknown"} (\`--baseline\`), both through the same aiomsg-ts agent in this one session, alternating: each baseline run comes right after this build's run of the same figure in odd rounds and right before it in even ones. A cell is the median of the runs with their min–max in brackets (${report.config.runs} run(s) for the headline figures, ${report.config.echo_runs ?? report.config.runs} for echo, ${report.config.sweep_runs ?? report.config.runs} for the sweep, fan-out and round-robin, one for bounded memory). Ratio = this build ÷ baseline. Verdict: "within spread" when the two ranges overlap, else better or worse for this build (for latency and memory, lower is better). A figure of one run has no range, so its verdict, marked "(1 run)", says nothing about spread.`);
  L.push("");
  L.push("| figure | this build median (min–max) | baseline median (min–max) | ratio | verdict |");
  L.push("|---|---:|---:|---:|---|");
  for (const [label, a, b, field, lower, fmt] of rows) {
    const x = spread(sc[a], field);
    const y = spread(sc[b], field);
    const cell = (v) => (v ? `${fmt(v.median)}${v.n > 1 ? ` (${fmt(v.min)}–${fmt(v.max)})` : ""}` : "failed");
    const ratio = x && y ? `${(x.median / y.median).toFixed(2)}×` : "—";
    let v = x && y ? verdict(x, y, lower) : "—";
    if (x && y && (x.n < 2 || y.n < 2)) v += " (1 run)";
    L.push(`| ${label} | ${cell(x)} | ${cell(y)} | ${ratio} | ${v} |`);
  }
  L.push("");
}

/**
 * Each target: measured value, the bound, and a margin relative to the bound
 * (positive = headroom, negative = short of it).
 */
export function evaluateTargets(byId) {
  const t = [];
  const add = (id, what, op, required, measured, shown, unit = "×") => {
    const ok = Number.isFinite(measured);
    const margin = !ok ? NaN : op === ">=" ? measured / required - 1 : 1 - measured / required;
    t.push({
      id,
      what,
      op,
      required,
      measured: ok ? +measured.toPrecision(4) : null,
      unit,
      shown: ok ? shown : "not measured",
      status: !ok ? "n/a" : margin >= 0 ? "pass" : "miss",
      margin: ok ? +margin.toFixed(3) : null,
    });
  };
  const ratio = (a, b) => (a && b ? a / b : NaN);

  const ts64 = s(byId, "oneway/ts->ts/64");
  const raw64 = s(byId, "oneway/raw->raw/64");
  add("oneway-64-vs-raw", "TS→TS one-way 64 B ≥ 1/5 of raw Node (msg/s)", ">=", 0.2,
    ratio(ts64?.msgs_per_s, raw64?.msgs_per_s),
    `${fmtCount(ts64?.msgs_per_s)} vs ${fmtCount(raw64?.msgs_per_s)} msg/s`);
  add("oneway-64-abs", "TS→TS one-way 64 B ≥ 1.5 M msg/s", ">=", 1.5e6, ts64?.msgs_per_s ?? NaN,
    `${fmtCount(ts64?.msgs_per_s)} msg/s`, "msg/s");
  const ts64k = s(byId, "oneway/ts->ts/65536");
  const raw64k = s(byId, "oneway/raw->raw/65536");
  add("oneway-64k-vs-raw", "TS→TS one-way 64 KiB ≥ 0.85× raw Node (MB/s)", ">=", 0.85,
    ratio(ts64k?.mb_per_s, raw64k?.mb_per_s),
    `${fmtNum(ts64k?.mb_per_s)} vs ${fmtNum(raw64k?.mb_per_s)} MB/s`);
  for (const [pl, where] of [["cross", "client and server on two cores"], ["same", "both on one core"]]) {
    const eTs = s(byId, `echo/ts/${pl}`);
    const eRaw = s(byId, `echo/raw/${pl}`);
    // Two cores (as two hosts): within 5% of raw Node; one core: within 15%.
    const p50Bound = pl === "cross" ? 1.05 : 1.15;
    add(`echo-p50-${pl}`, `echo TS↔TS p50 ≤ ${p50Bound} × raw Node echo (${where})`, "<=", p50Bound, ratio(eTs?.p50_us, eRaw?.p50_us),
      `${fmtNum(eTs?.p50_us)} vs ${fmtNum(eRaw?.p50_us)} µs`);
    // Only when the upstream Node port was measured (--upstream-js).
    const eUp = s(byId, `echo/up/${pl}`);
    if (pl === "cross" && eUp) {
      add("echo-p50-vs-upstream", `echo TS↔TS p50 ≤ the upstream Node port's (${where})`, "<=", 1, ratio(eTs?.p50_us, eUp?.p50_us),
        `${fmtNum(eTs?.p50_us)} vs ${fmtNum(eUp?.p50_us)} µs`);
    }
    add(`echo-p99-${pl}`, `echo TS↔TS p99 ≤ 1.5 × raw Node echo (${where})`, "<=", 1.5, ratio(eTs?.p99_us, eRaw?.p99_us),
      `${fmtNum(eTs?.p99_us)} vs ${fmtNum(eRaw?.p99_us)} µs`);
  }
  const alo = s(byId, "alo/ts->ts/64");
  add("alo-vs-amo", "at-least-once TS→TS 64 B ≥ 1/2 of at-most-once", ">=", 0.5, ratio(alo?.msgs_per_s, ts64?.msgs_per_s),
    `${fmtCount(alo?.msgs_per_s)} vs ${fmtCount(ts64?.msgs_per_s)} msg/s`);
  // Pinned (taskset): the same comparison with the wake-ups' placement fixed.
  for (const size of [64, 1024]) {
    const pp = s(byId, `oneway/py->py/${size}/pin2`);
    const x = s(byId, `oneway/py->ts/${size}/pin2`);
    if (pp || x) {
      add(`py->ts-${size}-pin2`, `Python→TS ≥ Python→Python, ${sizeName(size)}, sender and receiver pinned to two cores (msg/s)`, ">=", 1, ratio(x?.msgs_per_s, pp?.msgs_per_s),
        `${fmtCount(x?.msgs_per_s)} vs ${fmtCount(pp?.msgs_per_s)} msg/s`);
    }
  }
  for (const size of [64, 1024, 65536]) {
    const pp = s(byId, `oneway/py->py/${size}`);
    for (const [pair, label] of [["ts->py", "TS→Python"], ["py->ts", "Python→TS"]]) {
      const x = s(byId, `oneway/${pair}/${size}`);
      add(`${pair}-${size}`, `${label} ≥ Python→Python, ${sizeName(size)} (msg/s)`, ">=", 1, ratio(x?.msgs_per_s, pp?.msgs_per_s),
        `${fmtCount(x?.msgs_per_s)} vs ${fmtCount(pp?.msgs_per_s)} msg/s`);
    }
  }
  // "No point below zeromq.js": the worst ts/zmq ratio over a sweep's points, named.
  const noPointBelow = (id, what, points, field, fmt) => {
    let worst;
    for (const [label, tsId, zmqId] of points) {
      const r = ratio(s(byId, tsId)?.[field], s(byId, zmqId)?.[field]);
      if (Number.isFinite(r) && (!worst || r < worst.r)) worst = { r, label, ts: s(byId, tsId)[field], zmq: s(byId, zmqId)[field] };
    }
    add(id, what, ">=", 1, worst?.r ?? NaN, worst ? `worst at ${worst.label}: ${fmt(worst.ts)} vs ${fmt(worst.zmq)}` : "");
  };
  noPointBelow("sweep-vs-zmq", "size sweep 16 B–16 MiB: no point below zeromq.js (TS→TS ÷ zeromq.js, msg/s, worst point)",
    SWEEP.map((z) => [sizeName(z), `oneway/ts->ts/${z}`, `oneway/zmq->zmq/${z}`]), "msgs_per_s", (x) => `${fmtCount(x)} msg/s`);
  const f100 = s(byId, "fanout/ts/100");
  const z100 = s(byId, "fanout/zmq/100");
  add("fanout-100-vs-zmq", "publish 64 B to 100 subscribers ≥ 4× zeromq.js (deliveries/s)", ">=", 4,
    ratio(f100?.deliveries_per_s, z100?.deliveries_per_s),
    `${fmtCount(f100?.deliveries_per_s)} vs ${fmtCount(z100?.deliveries_per_s)} deliveries/s`);
  for (const [g, label] of [["fanout", "publish 64 B to N = 1–1,000 subscribers"], ["rr", "round-robin 64 B to N = 1–1,000 workers"]]) {
    noPointBelow(`${g}-vs-zmq`, `${label}: no point below zeromq.js (deliveries/s, worst point)`,
      SCALE_NS.map((n) => [`N = ${n}`, `${g}/ts/${n}`, `${g}/zmq/${n}`]), "deliveries_per_s", (x) => `${fmtCount(x)}/s`);
  }
  for (const n of [1000, 10000]) {
    const x = s(byId, `idle/ts/${n}`);
    add(`idle-${n}-bytes`, `≤ 16 KiB memory per idle peer (RSS, ${n.toLocaleString("en-US")} peers)`, "<=", 16,
      (x?.bytes_per_peer ?? NaN) / 1024, x ? `${fmtNum(x.bytes_per_peer / 1024)} KiB RSS, ${fmtNum(x.heap_ext_bytes_per_peer / 1024)} KiB heap+external per peer` : "", "KiB");
  }
  const hwm = s(byId, "hwm/ts");
  const hwmMB = hwm ? (hwm.peak_rss_kb * 1024) / MB : NaN;
  add("hwm-rss", "sender peak RSS < 300 MB offering 2 GB to a stalled peer", "<=", 300, hwmMB,
    `${fmtNum(hwmMB)} MB`, "MB");
  return t;
}

function fmtMeasured(t) {
  if (t.measured === null) return "—";
  if (t.unit === "×") return `${t.measured.toFixed(2)}×`;
  if (t.unit === "msg/s") return `${fmtCount(t.measured)} msg/s`;
  return `${fmtNum(t.measured)} ${t.unit}`;
}

function fmtRequired(t) {
  const op = t.op === ">=" ? "≥" : "≤";
  if (t.unit === "×") return `${op} ${+t.required.toFixed(2)}×`;
  if (t.unit === "msg/s") return `${op} ${fmtCount(t.required)} msg/s`;
  return `${op} ${t.required} ${t.unit}`;
}

function fmtStatus(t) {
  if (t.status === "n/a") return "n/a";
  const pct = Math.abs(t.margin * 100);
  const p = pct >= 10 ? pct.toFixed(0) : pct.toFixed(1);
  return t.status === "pass" ? `✅ pass (${p}% headroom)` : `❌ miss (${p}% short)`;
}

export function renderMarkdown(report, { SIZES, chartsMd = "" }) {
  const m = report.machine;
  const sc = report.scenarios;
  const L = [];
  const date = report.date.replace("T", " ").replace(/\.\d+Z$/, " UTC");
  L.push("# aiomsg-ts benchmark");
  L.push("");
  L.push(`${date} · \`${report.command}\` · ${report.config.runs} run(s) per figure (echo: ${report.config.echo_runs ?? report.config.runs}), median shown · whole run took ${fmtDuration(report.wall_time_s)}`);
  L.push("");
  L.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, ${m.os} · Node ${m.node} · Python ${m.python} · ` +
    `Python aiomsg ${m.aiomsg_python} (PyPI) · aiomsg-ts ${m.aiomsg_ts} (${m.git}) · zeromq.js ${m.zeromq_js} (libzmq ${m.libzmq}) · ` +
    (m.upstream_js ? `upstream aiomsg Node port ${m.upstream_js} (a local checkout) · ` : "") +
    (m.baseline ? `baseline: aiomsg-ts ${m.baseline.version} (${m.baseline.commit}, \`--baseline\`) · ` : "") +
    `load average (1/5/15 min) ${m.loadavg_at_start.join(" / ")} at start, ${(m.loadavg_at_end ?? []).join(" / ")} at end`);
  L.push("");
  const d = m.disturbance;
  if (d) {
    const noisy = d.other_cores > 0.1 || d.steal_cores > 0.1;
    L.push(`${noisy ? "> ⚠️ " : ""}During the run, processes other than the bench used ${d.other_cores} core(s) on average and the hypervisor stole ${d.steal_cores}${noisy ? ": figures are noisier than usual." : " (a quiet machine)."}`);
    L.push("");
  }

  L.push("## Targets");
  L.push("");
  L.push("| target | measured | required | status | figures |");
  L.push("|---|---:|---:|---|---|");
  for (const t of report.targets) L.push(`| ${t.what} | ${fmtMeasured(t)} | ${fmtRequired(t)} | ${fmtStatus(t)} | ${t.shown} |`);
  L.push("");
  L.push("Headroom / short: distance from the bound, relative to the bound.");
  L.push("");
  renderBaseline(report, L);

  const PAIR_LABEL = { ...PAIR_LABELS, "base->base": `${baselineName(m)} → itself` };
  const pairs = ["raw->raw", "zmq->zmq", "ts->ts", "base->base", "up->up", "py->py", "ts->py", "py->ts"].filter((p) => SIZES.some((z) => sc[`oneway/${p}/${z}`]));
  if (pairs.length) {
    L.push("## One-way throughput (at-most-once)");
    L.push("");
    L.push(`| sender → receiver | ${SIZES.map((z) => `${sizeName(z)} msg/s | ${sizeName(z)} MB/s`).join(" | ")} |`);
    L.push(`|---|${SIZES.map(() => "---:|---:").join("|")}|`);
    for (const p of pairs) {
      const cells = SIZES.map((z) => {
        const x = sc[`oneway/${p}/${z}`];
        if (!x) return "— | —";
        if (!x.summary) return "failed | failed";
        const loss = x.summary.lost ? ` (${x.summary.lost} lost)` : "";
        return `${fmtCount(x.summary.msgs_per_s)}${loss} | ${fmtNum(x.summary.mb_per_s)}`;
      });
      L.push(`| ${PAIR_LABEL[p]} | ${cells.join(" | ")} |`);
    }
    L.push("");
    L.push("Peak RSS (MB) of each process, sender / receiver (the largest over the runs):");
    L.push("");
    L.push(`| sender → receiver | ${SIZES.map(sizeName).join(" | ")} |`);
    L.push(`|---|${SIZES.map(() => "---:").join("|")}|`);
    for (const p of pairs) {
      const cells = SIZES.map((z) => {
        const x = sc[`oneway/${p}/${z}`]?.summary;
        return x ? `${rssMB(x.rss_sender_kb)} / ${rssMB(x.rss_receiver_kb)}` : "—";
      });
      L.push(`| ${PAIR_LABEL[p]} | ${cells.join(" | ")} |`);
    }
    L.push("");
  }

  const pinPairs = ["py->py", "py->ts", "ts->py"];
  const pinSizes = [64, 1024];
  const placements = [["", "unpinned"], ["/pin2", "two cores"], ["/pin1", "one core"]];
  if (pinPairs.some((p) => pinSizes.some((z) => sc[`oneway/${p}/${z}/pin2`] || sc[`oneway/${p}/${z}/pin1`]))) {
    const range = (y) => (y.msgs_per_s_min < y.msgs_per_s_max ? ` (${fmtCount(y.msgs_per_s_min)}–${fmtCount(y.msgs_per_s_max)})` : "");
    L.push("## Python one-way by placement (`--only placement`)");
    L.push("");
    L.push(`The Python pairs of the one-way table, unpinned (as above), then pinned with \`taskset\`: on two cores (receiver on CPU 1, sender on CPU 0) and both on one core. Median msg/s of ${report.config.runs} run(s) (pinned aiomsg-ts → Python: ${report.config.sweep_runs ?? report.config.runs}), min–max in brackets; ÷ Py→Py divides by Python → Python in the same placement.`);
    L.push("");
    L.push(`| sender → receiver | size | ${placements.map(([, n]) => `${n} msg/s | ÷ Py→Py`).join(" | ")} |`);
    L.push(`|---|---:|${placements.map(() => "---:|---:").join("|")}|`);
    for (const z of pinSizes) {
      for (const p of pinPairs) {
        const cells = placements.map(([suffix]) => {
          const x = sc[`oneway/${p}/${z}${suffix}`];
          if (!x) return "— | —";
          if (!x.summary) return "failed | —";
          const pp = sc[`oneway/py->py/${z}${suffix}`]?.summary;
          const r = pp ? x.summary.msgs_per_s / pp.msgs_per_s : NaN;
          return `${fmtCount(x.summary.msgs_per_s)}${range(x.summary)} | ${Number.isFinite(r) ? `${r.toFixed(2)}×` : "—"}`;
        });
        L.push(`| ${PAIR_LABEL[p]} | ${sizeName(z)} | ${cells.join(" | ")} |`);
      }
    }
    L.push("");
    L.push("Where the time goes, per message (medians): CPU of each process (the sender from its first send until told to exit, the receiver from its first message to the end marker) and voluntary context switches (`ru_nvcsw`, the times a process went to sleep; each sleep of a receiver is a wake-up its sender pays for when it writes).");
    L.push("");
    L.push(`| sender → receiver | size | placement | sender CPU µs | receiver CPU µs | receiver sleeps | sender sleeps |`);
    L.push("|---|---:|---|---:|---:|---:|---:|");
    for (const z of pinSizes) {
      for (const p of pinPairs) {
        for (const [suffix, name] of placements) {
          const y = sc[`oneway/${p}/${z}${suffix}`]?.summary;
          if (!y) continue;
          L.push(`| ${PAIR_LABEL[p]} | ${sizeName(z)} | ${name} | ${fmtNum(y.sender_cpu_us_per_msg)} | ${fmtNum(y.receiver_cpu_us_per_msg)} | ${fmtNum(y.receiver_sleeps_per_msg)} | ${fmtNum(y.sender_sleeps_per_msg)} |`);
        }
      }
    }
    L.push("");
  }

  const sweepPairs = ["raw->raw", "zmq->zmq", "ts->ts", "py->py"];
  if (SWEEP.some((z) => !SIZES.includes(z) && sweepPairs.some((p) => sc[`oneway/${p}/${z}`]))) {
    L.push("## Message-size sweep (one-way, at-most-once, `--only sweep`)");
    L.push("");
    L.push(`The one-way test above at every size from 16 B to 16 MiB: ${report.config.sweep_runs ?? report.config.runs} run(s) per point (the 64 B, 1 KiB and 64 KiB points are the headline figures, ${report.config.runs} run(s)). Raw Node is the ceiling. Senders look at their deadline every 256 messages or every ~4 MiB, whichever comes first, so large sizes also stop at the duration. At 16 MiB the aiomsg-ts ends raise \`maxFrameSize\` to 16 MiB + 64 KiB (the default 16 MiB would refuse the frame with its envelope); Python aiomsg has no limit.`);
    L.push("");
    // With --baseline, the baseline build's points as two more columns and a ratio.
    const withBase = SWEEP.some((z) => sc[`oneway/base->base/${z}`]);
    if (withBase) sweepPairs.splice(3, 0, "base->base");
    L.push(`| size | raw msg/s | raw MB/s | zeromq.js msg/s | MB/s | aiomsg-ts msg/s | MB/s | ${withBase ? `baseline ${m.baseline?.commit ?? ""} msg/s | MB/s | ` : ""}Python msg/s | MB/s | TS ÷ zeromq.js | TS ÷ raw |${withBase ? " TS ÷ baseline |" : ""}`);
    L.push(`|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${withBase ? "---:|---:|---:|" : ""}`);
    for (const z of SWEEP) {
      const g = (p) => sc[`oneway/${p}/${z}`];
      const cells = sweepPairs.map((p) => {
        const x = g(p);
        if (!x) return "— | —";
        if (!x.summary) return "failed | failed";
        const loss = x.summary.lost ? ` (${x.summary.lost} lost)` : "";
        return `${fmtCount(x.summary.msgs_per_s)}${loss} | ${fmtNum(x.summary.mb_per_s)}`;
      });
      const r = (a, b) => {
        const v = g(a)?.summary?.msgs_per_s / g(b)?.summary?.msgs_per_s;
        return Number.isFinite(v) ? `${v.toFixed(2)}×` : "—";
      };
      L.push(`| ${sizeName(z)} | ${cells.join(" | ")} | ${r("ts->ts", "zmq->zmq")} | ${r("ts->ts", "raw->raw")} |${withBase ? ` ${r("ts->ts", "base->base")} |` : ""}`);
    }
    L.push("");
  }

  const SCALE_LABEL = { raw: "raw Node `net` (the ceiling)", zmq: "zeromq.js", ts: "**aiomsg-ts**", base: baselineName(m), py: "Python aiomsg" };
  for (const [g, title, what, who] of [
    ["fanout", "Publish to N subscribers (64 B, `--only fanout`)", "aiomsg-ts `sendMode: \"publish\"`, zeromq.js PUB → SUB, raw Node writing each 64 KiB batch of frames, encoded once, to every subscriber socket (waiting for `drain` on those that need it)", "subscribers"],
    ["rr", "Round-robin to N workers (64 B, `--only rr`)", "aiomsg-ts `sendMode: \"roundrobin\"`, zeromq.js PUSH → PULL, raw Node writing each 64 KiB batch to the next socket that does not need `drain` (waiting only when all do)", "workers"],
  ]) {
    const impls = ["raw", "zmq", "ts", "base", "py"].filter((i) => SCALE_NS.some((n) => sc[`${g}/${i}/${n}`]));
    if (!impls.length) continue;
    L.push(`## ${title}`);
    L.push("");
    L.push(`One hub process binds and sends 64 B messages for ${report.config.duration_s} s: ${what}. ONE other process holds all N ${who}' connections and counts deliveries per connection, so the N ${who} share one core (the 2-core machine has one for the hub, one for them). Deliveries/s = messages received by all ${who} ÷ (last delivery − hub's first send). Sender CPU = the hub's user+system CPU over that time (cores), and per delivery. ${g === "fanout" ? "Before the run the hub sends 1-byte probes every 10 ms until every subscriber has one (ZeroMQ's slow joiner); probes are not counted. Publish drops for a subscriber that cannot keep up (zeromq.js at its high-water mark, aiomsg-ts when a peer is full): dropped = N × sent − received, shown as is." : "The run starts once the hub has N peers; nothing may drop (lost = sent − received)."} ${report.config.sweep_runs ?? report.config.runs} run(s) per point.`);
    L.push("");
    L.push(`| N | ${impls.map((i) => `${SCALE_LABEL[i]} deliveries/s | sender cores | µs/delivery | dropped`).join(" | ")} | TS ÷ zeromq.js | TS ÷ raw |`);
    L.push(`|---:|${impls.map(() => "---:|---:|---:|---:").join("|")}|---:|---:|`);
    for (const n of SCALE_NS) {
      const g1 = (i) => sc[`${g}/${i}/${n}`];
      const cells = impls.map((i) => {
        const x = g1(i);
        if (!x) return "— | — | — | —";
        if (!x.summary) return "failed | | |";
        const y = x.summary;
        const drop = y.dropped ? `${fmtCount(y.dropped)} (${((100 * y.dropped) / (y.dropped + y.received)).toFixed(1)}%)` : "0";
        return `${fmtCount(y.deliveries_per_s)} | ${fmtNum(y.sender_cpu_core)} | ${fmtNum(y.sender_cpu_us_per_delivery)} | ${drop}`;
      });
      const r = (a, b) => {
        const v = g1(a)?.summary?.deliveries_per_s / g1(b)?.summary?.deliveries_per_s;
        return Number.isFinite(v) ? `${v.toFixed(2)}×` : "—";
      };
      L.push(`| ${n.toLocaleString("en-US")} | ${cells.join(" | ")} | ${r("ts", "zmq")} | ${r("ts", "raw")} |`);
    }
    L.push("");
    L.push("Peak RSS (MB), hub / the process of all N " + who + ":");
    L.push("");
    L.push(`| N | ${impls.map((i) => SCALE_LABEL[i]).join(" | ")} |`);
    L.push(`|---:|${impls.map(() => "---:").join("|")}|`);
    for (const n of SCALE_NS) {
      L.push(`| ${n.toLocaleString("en-US")} | ${impls.map((i) => {
        const y = sc[`${g}/${i}/${n}`]?.summary;
        return y ? `${rssMB(y.rss_pub_kb)} / ${rssMB(y.rss_subs_kb)}` : "—";
      }).join(" | ")} |`);
    }
    L.push("");
  }

  const idleImpls = ["raw", "ts", "zmq"].filter((i) => IDLE_NS.some((n) => sc[`idle/${i}/${n}`]));
  if (idleImpls.length) {
    L.push("## Idle peers on one bind socket (`--only idle`)");
    L.push("");
    L.push(`A hub process (\`node --expose-gc\`) binds with default options: an aiomsg-ts Socket, or a bare \`net\` server. It notes its memory after \`gc()\`, then ONE other process opens N connections, at most ${500} dials in flight (below Node's listen backlog of 511); aiomsg-ts peers are Sockets with default options, so both ends heartbeat every 5 s. Accept rate = N ÷ (hub saw the Nth peer − the peers' first dial). Once all are in, the hub settles (\`gc()\`, 1 s, \`gc()\`) and reports memory: per peer = (after − before) ÷ N, RSS and V8 heap + external. Then one active sender (the one-way source, 64 B, ${report.config.duration_s} s) connects and sends one-way to the hub among the idle peers; N = 0 is the same without idle peers. Heap + external counts what V8 has allocated (an ArrayBuffer counts in full before its pages are touched), RSS what is resident; the target is on RSS. One run.`);
    L.push("");
    L.push(`| N | ${idleImpls.map((i) => `${SCALE_LABEL[i]} RSS KiB/peer | heap+ext KiB/peer | accepts/s | active msg/s | hub RSS MB`).join(" | ")} |`);
    L.push(`|---:|${idleImpls.map(() => "---:|---:|---:|---:|---:").join("|")}|`);
    for (const n of IDLE_NS) {
      L.push(`| ${n.toLocaleString("en-US")} | ${idleImpls.map((i) => {
        const x = sc[`idle/${i}/${n}`];
        if (!x) return "— | — | — | — | —";
        const y = x.summary;
        if (!y) return "failed | | | |";
        const split = Number.isFinite(y.heap_bytes_per_peer) ? ` (${fmtNum(y.heap_bytes_per_peer / 1024)} + ${fmtNum(y.external_bytes_per_peer / 1024)})` : "";
        return `${fmtNum(y.bytes_per_peer / 1024)} | ${fmtNum(y.heap_ext_bytes_per_peer / 1024)}${split} | ${fmtCount(y.accepts_per_s)} | ${fmtCount(y.active_msgs_per_s)} | ${rssMB(y.rss_hub_kb)}`;
      }).join(" | ")} |`);
    }
    L.push("");
  }

  const ECHO_LABEL = { ...ECHO_LABELS, base: `${baselineName(m)} ↔ itself` };
  const echoes = ["raw", "zmq", "ts", "base", "up", "py"].filter((i) => sc[`echo/${i}/cross`] || sc[`echo/${i}/same`]);
  if (echoes.length) {
    const pinned = report.config.echo_pinned;
    L.push("## Echo round trip (64 B, one message in flight)");
    L.push("");
    L.push(pinned
      ? `Client and server pinned with \`taskset\`: on two cores (as two hosts would be), and both on one core. On this VM a wake-up across cores costs tens of µs, so the two placements differ more than the implementations do; unpinned runs flip between them. Median of ${report.config.echo_runs ?? report.config.runs} run(s) each: on two cores one run's p50 spreads wider than the implementations differ.`
      : "Unpinned (no `taskset` or a single core): each run lands where the scheduler puts it, so expect spread.");
    L.push("");
    L.push("| client ↔ echo server | two cores p50 µs | p99 µs | round trips/s | one core p50 µs | p99 µs | round trips/s | peak RSS MB client / server |");
    L.push("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const i of echoes) {
      const cells = ["cross", "same"].map((pl) => {
        const x = sc[`echo/${i}/${pl}`]?.summary;
        return x ? `${fmtNum(x.p50_us)} | ${fmtNum(x.p99_us)} | ${fmtCount(x.round_trips_per_s)}` : "— | — | —";
      });
      const rs = ["cross", "same"].map((pl) => sc[`echo/${i}/${pl}`]?.summary).filter(Boolean);
      const rc = Math.max(...rs.map((x) => x.rss_client_kb));
      const rv = Math.max(...rs.map((x) => x.rss_server_kb));
      L.push(`| ${ECHO_LABEL[i]} | ${cells.join(" | ")} | ${rs.length ? `${rssMB(rc)} / ${rssMB(rv)}` : "—"} |`);
    }
    L.push("");
  }

  const aloRows = [["ts", "**aiomsg-ts → aiomsg-ts**"], ["base", `${baselineName(m)} → itself`], ["up", "upstream Node port → itself"]].filter(([i]) => sc[`alo/${i}->${i}/64`]);
  if (aloRows.length) {
    L.push("## At-least-once (64 B, every message acknowledged)");
    L.push("");
    L.push("| sender → receiver | msg/s | MB/s | vs its at-most-once | dropped | peak RSS MB sender / receiver |");
    L.push("|---|---:|---:|---:|---:|---:|");
    for (const [i, label] of aloRows) {
      const x = sc[`alo/${i}->${i}/64`].summary;
      const amo = sc[`oneway/${i}->${i}/64`]?.summary;
      L.push(x
        ? `| ${label} | ${fmtCount(x.msgs_per_s)} | ${fmtNum(x.mb_per_s)} | ${amo ? `${(x.msgs_per_s / amo.msgs_per_s).toFixed(2)}×` : "—"} | ${x.dropped} | ${rssMB(x.rss_sender_kb)} / ${rssMB(x.rss_receiver_kb)} |`
        : `| ${label} | failed | | | | |`);
    }
    L.push("");
  }

  const hwmRows = ["ts", "base"].filter((i) => sc[`hwm/${i}`]);
  if (hwmRows.length) {
    L.push("## Bounded memory (`--only hwm`)");
    L.push("");
    L.push(`An aiomsg-ts sender (default \`highWaterMark\`) offers 2 GB in 64 KiB messages to a receiving process stopped with SIGSTOP, for ${report.config.hwm_seconds} s.`);
    L.push("");
    // The build column only when the baseline build was measured too.
    const named = hwmRows.length > 1 || hwmRows[0] !== "ts";
    L.push(`| ${named ? "build | " : ""}offered | accepted by send() | send() blocked at the end for | peak sender RSS MB | bound |`);
    L.push(`|${named ? "---|" : ""}---:|---:|---:|---:|---:|`);
    for (const i of hwmRows) {
      const x = sc[`hwm/${i}`].summary;
      const build = named ? `${i === "ts" ? "this build" : baselineName(m)} | ` : "";
      L.push(x
        ? `| ${build}${(x.offered_bytes / MB).toFixed(0)} MB | ${(x.accepted_bytes / MB).toFixed(1)} MB | ${fmtNum(x.blocked_for_s)} s | ${rssMB(x.peak_rss_kb)} | < 300 |`
        : `| ${build}failed | | | | |`);
    }
    L.push("");
  }

  const attacks = Object.values(sc).filter((x) => x.kind === "attack");
  if (attacks.length) {
    L.push("## Peak RSS under attack (`--only attack`)");
    L.push("");
    L.push("A TS bind socket with default options, in a process of its own, attacked from another for the time given (the attacks of `test/reliability/isolation.test.ts`). The bound is README \"Guarantees and limits\" at the defaults (72 MiB + 256 KiB per connection), on top of the process's baseline RSS; the difference also holds reads already released that V8 has not collected yet (it collects external memory after ~64 MiB of churn).");
    L.push("");
    L.push("| attack | what it does | s | target RSS before | peak target RSS | peak − before | bound (held) |");
    L.push("|---|---|---:|---:|---:|---:|---:|");
    for (const x of attacks) {
      const r = x.summary;
      L.push(r
        ? `| ${x.attack.kind} | ${r.what} | ${r.seconds} | ${rssMB(r.baseline_rss_kb)} MB | ${rssMB(r.peak_rss_kb)} MB | ${rssMB(r.peak_rss_kb - r.baseline_rss_kb)} MB | ${rssMB(r.bound_kb)} MB |`
        : `| ${x.attack.kind} | failed | | | | | |`);
    }
    L.push("");
  }

  const errs = Object.values(sc).filter((x) => x.errors.length);
  if (errs.length) {
    L.push("## Failed runs");
    L.push("");
    for (const x of errs) for (const e of new Set(x.errors)) L.push(`- \`${x.id}\`: ${e.split("\n")[0]}`);
    L.push("");
  }

  if (chartsMd) {
    L.push("## Charts");
    L.push("");
    L.push(chartsMd);
  }

  L.push("## How it is measured");
  L.push("");
  L.push("- Every endpoint is its own process, spawned by `bench/run.mjs`; peak RSS is each process's own `getrusage` maximum.");
  L.push("- One-way: the sender sends for " + `${report.config.duration_s} s` + " as fast as `send()` accepts, then an empty message; the rate is messages received ÷ (receiver's clock at that end marker − sender's clock at its first send), both on CLOCK_MONOTONIC. MB = 10⁶ bytes of payload.");
  L.push("- Raw Node baseline: `u32` length + body frames packed into ~64 KiB writes, honouring `drain`; the receiver decodes every frame. zeromq.js: one `await send()` at a time (its API allows no more).");
  L.push("- Python aiomsg's `send()` never blocks (unbounded queues), so the Python sender sleeps 1 ms while more than ~16 MiB (≤ 4096 messages) wait in its queues: same pipeline, bounded memory.");
  if (Object.keys(sc).some((id) => id.includes("/up"))) {
    L.push("- Upstream Node port (`--upstream-js`, a local checkout of upstream aiomsg's javascript-lib, not on npm): its `send()` never waits, so its source waits for `drain` once more than 1 MiB is queued on the connection and otherwise yields to the event loop every batch of messages; at-least-once counts until its table of unacknowledged ids is empty.");
  }
  L.push("- Echo: a client sends one message and awaits the echo, after 0.3 s of warm-up; p50/p99 over every round trip.");
  L.push("- At-least-once: the rate counts until the later of the last delivery and the sender's `close()` returning with every message acknowledged (aiomsg's ACK is deferred ~20 ms).");
  L.push("");
  return L.join("\n");
}
