// The benchmark's sweeps as SVG charts, built from the report object that
// run.mjs writes to bench/results/latest.json. Only what the report holds is
// drawn: x values come from the scenario ids, absent implementations are left
// out, and a chart with no series at all is not produced.
import { lineChart } from "./chart.mjs";

// One colour/dash/marker per implementation in every chart (indices into chart.mjs STYLES).
const IMPLS = [
  { key: "ts", name: "aiomsg-ts", style: 0, emphasis: true },
  { key: "raw", name: "raw Node (ceiling)", style: 1 },
  { key: "zmq", name: "zeromq.js", style: 2 },
  { key: "py", name: "Python aiomsg", style: 3 },
];
const SWEEP_PAIRS = { ts: "ts->ts", raw: "raw->raw", zmq: "zmq->zmq", py: "py->py" };

const KiB = 1024;
const MiB = 1024 * 1024;

/** 16 -> "16 B", 1024 -> "1 KiB", 1048576 -> "1 MiB", 1536 -> "1.5 KiB". */
export function bytesLabel(v) {
  const t = (x) => String(Number(x.toFixed(2)));
  if (v >= MiB) return `${t(v / MiB)} MiB`;
  if (v >= KiB) return `${t(v / KiB)} KiB`;
  return `${t(v)} B`;
}

// Tick labels without SI suffixes, for units that already carry a scale (MB/s, KiB, µs).
function plain(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1) return String(Number(v.toPrecision(6)));
  return String(Number(v.toPrecision(2)));
}

/**
 * Scenarios of one family, `<prefix>/<key>/<number>`, grouped per implementation:
 * Map(implKey -> [{ x, scenario }]) sorted by x. Ids whose last part is not a
 * number are ignored.
 */
function collect(scenarios, prefix, keyOf) {
  const byImpl = new Map();
  for (const [id, sc] of Object.entries(scenarios ?? {})) {
    const parts = id.split("/");
    if (parts.length !== 3 || parts[0] !== prefix) continue;
    const impl = keyOf(parts[1]);
    const x = Number(parts[2]);
    if (!impl || parts[2] === "" || !Number.isFinite(x)) continue;
    if (!byImpl.has(impl)) byImpl.set(impl, []);
    byImpl.get(impl).push({ x, sc });
  }
  for (const list of byImpl.values()) list.sort((a, b) => a.x - b.x);
  return byImpl;
}

/**
 * Series for one metric. A scenario without a summary (every run failed) is a
 * gap in its line and is named in `failed`; an implementation with no value
 * at all is left out.
 */
function seriesFor(byImpl, metric, { minX = -Infinity, lowerIsBetter = false } = {}) {
  const series = [];
  const failed = [];
  for (const impl of IMPLS) {
    const list = (byImpl.get(impl.key) ?? []).filter((e) => e.x >= minX);
    const points = list.map((e) => {
      const v = e.sc?.summary ? metric(e.sc.summary) : null;
      return [e.x, Number.isFinite(v) ? v : null];
    });
    list.forEach((e, i) => {
      if (!e.sc?.summary) failed.push({ impl, x: e.x });
      else if (points[i][1] === null) failed.push({ impl, x: e.x, missing: true });
    });
    if (points.some((p) => p[1] !== null)) {
      // For a cost (CPU, memory) raw Node is the least any library on it can spend.
      const name = lowerIsBetter && impl.key === "raw" ? "raw Node (floor)" : impl.name;
      series.push({ name, points, style: impl.style, ...(impl.emphasis ? { emphasis: true } : {}) });
    }
  }
  return { series, failed };
}

// The caption: how many runs each point stands for, which points have no
// result, and the machine and date of the run, on its own line.
function runsNote(report, byImpl, failed, fmtX, { extra, median = false } = {}) {
  const counts = new Set();
  for (const list of byImpl.values()) {
    for (const e of list) if (Array.isArray(e.sc?.runs)) counts.add(e.sc.runs.filter((r) => !r?.error).length);
  }
  counts.delete(0);
  const parts = [];
  if (extra) parts.push(extra);
  if (counts.size) {
    const lo = Math.min(...counts);
    const hi = Math.max(...counts);
    const n = lo === hi ? `${lo}` : `${lo}–${hi}`;
    parts.push(median && hi > 1 ? `Median of ${n} runs per point.` : `${n} run${hi > 1 ? "s" : ""} per point.`);
  }
  const noRun = failed.filter((f) => !f.missing);
  const noValue = failed.filter((f) => f.missing);
  const list = (fs) => fs.map((f) => `${f.impl.name} at ${fmtX(f.x)}`).join(", ");
  if (noRun.length) parts.push(`Every run failed: ${list(noRun)}.`);
  if (noValue.length) parts.push(`Not measured: ${list(noValue)}.`);
  let machine = "";
  const m = report?.machine;
  if (m) {
    const where = [m.cpu, m.cores ? `${m.cores} cores` : null, m.node ? `Node ${m.node}` : null].filter(Boolean).join(", ");
    const when = typeof report.date === "string" ? report.date.slice(0, 10) : null;
    machine = [where, when, m.git ? `git ${m.git}` : null].filter(Boolean).join(" · ");
  }
  return [parts.join(" "), machine].filter(Boolean).join("\n");
}

/** The message size shared by every scenario of a family (a `size` field), if they agree. */
function commonSize(byImpl) {
  const sizes = new Set();
  for (const list of byImpl.values()) for (const e of list) sizes.add(e.sc?.size);
  const [only] = sizes;
  return sizes.size === 1 && Number.isFinite(only) ? only : null;
}

// Ticks at powers of 4 over the measured sizes (16 B, 64 B, 256 B, 1 KiB, …).
function pow4Ticks(byImpl) {
  const xs = [...byImpl.values()].flatMap((l) => l.map((e) => e.x)).filter((x) => x > 0);
  if (!xs.length) return undefined;
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const t = [];
  for (let v = 4 ** Math.floor(Math.log(lo) / Math.log(4)); v <= hi * 4; v *= 4) t.push(v);
  return t;
}

const countLabel = (n) => n.toLocaleString("en-US");

/**
 * Charts for every sweep the report holds:
 * sweep-msgs, sweep-mbps, fanout, fanout-cpu, rr, idle-memory, idle-active.
 * Returns [{ name, title, svg }] in that order, leaving out charts without data.
 */
export function renderCharts(report) {
  const scenarios = report?.scenarios ?? {};
  const charts = [];
  const add = (name, spec) => {
    if (spec.series.length === 0) return;
    charts.push({ name, title: spec.title, svg: lineChart(spec) });
  };

  // One-way message-size sweep, same implementation on both ends.
  const pairToImpl = Object.fromEntries(Object.entries(SWEEP_PAIRS).map(([k, v]) => [v, k]));
  const sweep = collect(scenarios, "oneway", (pair) => pairToImpl[pair]);
  const sweepCommon = {
    xLabel: "message size",
    xLog: true,
    yLog: true,
    xTicks: pow4Ticks(sweep),
    xTickFormat: bytesLabel,
  };
  {
    const { series, failed } = seriesFor(sweep, (s) => s.msgs_per_s);
    add("sweep-msgs", {
      ...sweepCommon,
      title: "One-way throughput by message size: messages/s",
      yLabel: "messages/s",
      series,
      note: runsNote(report, sweep, failed, bytesLabel, { extra: "One sender, one receiver, loopback TCP.", median: true }),
    });
  }
  {
    const { series, failed } = seriesFor(sweep, (s) => s.mb_per_s);
    add("sweep-mbps", {
      ...sweepCommon,
      title: "One-way throughput by message size: MB/s",
      yLabel: "MB/s (10⁶ bytes/s of payload)",
      yTickFormat: plain,
      series,
      note: runsNote(report, sweep, failed, bytesLabel, { extra: "One sender, one receiver, loopback TCP.", median: true }),
    });
  }

  // Publish to N subscribers.
  const fan = collect(scenarios, "fanout", (k) => k);
  const fanSize = commonSize(fan);
  const fanOf = fanSize ? `, ${bytesLabel(fanSize)} messages` : "";
  {
    const { series, failed } = seriesFor(fan, (s) => s.deliveries_per_s, { minX: Number.MIN_VALUE });
    add("fanout", {
      title: `Publish to N subscribers: deliveries/s${fanOf}`,
      xLabel: "subscribers N",
      yLabel: "deliveries/s (messages × subscribers)",
      xLog: true,
      yLog: true,
      xTickFormat: countLabel,
      series,
      note: runsNote(report, fan, failed, (n) => `N = ${n}`, { median: true }),
    });
  }
  {
    const { series, failed } = seriesFor(fan, (s) => s.sender_cpu_us_per_delivery, { minX: Number.MIN_VALUE, lowerIsBetter: true });
    add("fanout-cpu", {
      title: `Publish to N subscribers: sender CPU per delivery${fanOf}`,
      xLabel: "subscribers N",
      yLabel: "sender CPU µs per delivery (lower is better)",
      xLog: true,
      yLog: true,
      xTickFormat: countLabel,
      yTickFormat: plain,
      series,
      note: runsNote(report, fan, failed, (n) => `N = ${n}`, { median: true }),
    });
  }

  // Round-robin to N workers.
  const rr = collect(scenarios, "rr", (k) => k);
  const rrSize = commonSize(rr);
  {
    const { series, failed } = seriesFor(rr, (s) => s.deliveries_per_s, { minX: Number.MIN_VALUE });
    add("rr", {
      title: `Round-robin to N workers: deliveries/s${rrSize ? `, ${bytesLabel(rrSize)} messages` : ""}`,
      xLabel: "workers N",
      yLabel: "deliveries/s",
      xLog: true,
      yLog: true,
      xTickFormat: countLabel,
      series,
      note: runsNote(report, rr, failed, (n) => `N = ${n}`, { median: true }),
    });
  }

  // Idle peers on one bind socket. N = 0 (a baseline) has no place on a log
  // axis: it is left out of the memory chart and drawn as a reference line
  // in the active-peer chart.
  const idle = collect(scenarios, "idle", (k) => k);
  {
    const { series, failed } = seriesFor(idle, (s) => s.bytes_per_peer / 1024, { minX: Number.MIN_VALUE, lowerIsBetter: true });
    add("idle-memory", {
      title: "Memory per idle peer on one bind socket",
      xLabel: "idle peers N",
      yLabel: "KiB of RSS per idle peer (lower is better)",
      xLog: true,
      yLog: false,
      xTickFormat: countLabel,
      yTickFormat: plain,
      series,
      refs: [{ y: 16, label: "16 KiB target" }],
      note: runsNote(report, idle, failed, (n) => `N = ${n}`),
    });
  }
  {
    const { series, failed } = seriesFor(idle, (s) => s.active_msgs_per_s, { minX: Number.MIN_VALUE });
    const refs = [];
    for (const impl of IMPLS) {
      const base = (idle.get(impl.key) ?? []).find((e) => e.x === 0);
      const v = base?.sc?.summary?.active_msgs_per_s;
      if (Number.isFinite(v) && series.some((s) => s.name === impl.name)) {
        refs.push({ y: v, label: `${impl.name}, no idle peers`, style: impl.style });
      }
    }
    add("idle-active", {
      title: "One active peer's throughput among N idle peers",
      xLabel: "idle peers N",
      yLabel: "active peer messages/s",
      xLog: true,
      yLog: false,
      xTickFormat: countLabel,
      series,
      refs,
      note: runsNote(report, idle, failed.filter((f) => f.x !== 0), (n) => `N = ${n}`),
    });
  }
  return charts;
}

/** Markdown image lines for the charts, `![title](<prefix><name>.svg)`, one paragraph each. */
export function chartMarkdown(charts, prefix = "") {
  return charts.map((c) => `![${c.title.replace(/[[\]\\]/g, "\\$&")}](${prefix}${c.name}.svg)`).join("\n\n") + (charts.length ? "\n" : "");
}
