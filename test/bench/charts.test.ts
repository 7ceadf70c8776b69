/**
 * The benchmark's SVG charts (bench/lib/chart.mjs, bench/lib/charts.mjs), checked
 * on synthetic reports built here: well-formed standalone SVG, one legend entry
 * and one marker per point for each series, gaps break lines, log ticks, absent
 * data leaves charts out, and the output is byte-for-byte repeatable.
 */
import { describe, expect, it } from "vitest";
import { lineChart, logTicks, linearTicks } from "../../bench/lib/chart.mjs";
import { chartMarkdown, renderCharts } from "../../bench/lib/charts.mjs";
import { findAll, hasClass, parseXml, textOf, type XmlElement } from "./xml.js";

type Point = [number, number | null];
type Series = { name: string; points: Point[]; emphasis?: boolean; style?: number };
type Chart = { name: string; title: string; svg: string };

const SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];
const NS = [1, 10, 100, 1000];

const parse = (svg: string) => parseXml(svg);
const legendNames = (root: XmlElement) => findAll(root, hasClass("legend-entry")).map((e) => e.attrs["data-name"]);
const seriesGroups = (root: XmlElement) => findAll(root, hasClass("series"));
const seriesNamed = (root: XmlElement, name: string) => {
  const g = seriesGroups(root).filter((e) => e.attrs["data-name"] === name);
  expect(g).toHaveLength(1);
  return g[0];
};
const markersOf = (g: XmlElement) => findAll(g, hasClass("marker"));
const linesOf = (g: XmlElement) => findAll(g, (e) => e.name === "polyline");
const texts = (root: XmlElement, cls: string) => findAll(root, hasClass(cls)).map(textOf);
const numbersIn = (s: string) => s.split(/[^0-9.eE+-]+/).filter(Boolean).map(Number);

/** The centre of a marker element, whatever its shape. */
function markerCentre(m: XmlElement): [number, number] {
  if (m.name === "circle") return [+m.attrs.cx, +m.attrs.cy];
  if (m.name === "rect") return [+m.attrs.x + +m.attrs.width / 2, +m.attrs.y + +m.attrs.height / 2];
  const n = numbersIn(m.attrs.d);
  const xs = n.filter((_, k) => k % 2 === 0);
  const ys = n.filter((_, k) => k % 2 === 1);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

function frameOf(root: XmlElement) {
  const [f] = findAll(root, hasClass("frame"));
  return { x0: +f.attrs.x, y0: +f.attrs.y, x1: +f.attrs.x + +f.attrs.width, y1: +f.attrs.y + +f.attrs.height };
}

// A bench report shaped like bench/results/latest.json, with only what is asked for.
type Sc = { id: string; kind: string; group: string; runs: object[]; summary?: Record<string, number>; size?: number };
function report(scenarios: Sc[]) {
  return {
    schema: 1,
    date: "2026-11-25T18:06:10.403Z",
    machine: { cpu: "Test CPU", cores: 2, node: "v20.20.2", git: "abc1234" },
    scenarios: Object.fromEntries(scenarios.map((s) => [s.id, s])),
  };
}
function sc(id: string, summary: Record<string, number> | undefined, extra: Partial<Sc> = {}): Sc {
  const kind = id.split("/")[0];
  return { id, kind: kind === "oneway" ? "oneway" : kind, group: kind, runs: [{}, {}, {}], summary, ...extra };
}
const oneway = (pair: string, size: number, msgs: number) => sc(`oneway/${pair}/${size}`, { msgs_per_s: msgs, mb_per_s: (msgs * size) / 1e6 });
const fanout = (impl: string, n: number, d: number) =>
  sc(`fanout/${impl}/${n}`, { deliveries_per_s: d, sender_cpu_us_per_delivery: 1e6 / d }, { size: 64 });
const rr = (impl: string, n: number, d: number) => sc(`rr/${impl}/${n}`, { deliveries_per_s: d, sender_cpu_us_per_delivery: 1e6 / d }, { size: 64 });
const idle = (impl: string, n: number, bytes: number, active: number) =>
  sc(`idle/${impl}/${n}`, { bytes_per_peer: bytes, accepts_per_s: 4000, active_msgs_per_s: active });

function fullReport() {
  const out: Sc[] = [];
  const peak: Record<string, number> = { "raw->raw": 1.2e7, "zmq->zmq": 6e5, "ts->ts": 4e6, "py->py": 3e4 };
  for (const [pair, p] of Object.entries(peak)) for (const s of SIZES) out.push(oneway(pair, s, Math.min(p, 3e9 / s)));
  // Mixed pairs are not part of the sweep charts.
  out.push(oneway("ts->py", 64, 5e4), oneway("py->ts", 64, 2e4));
  for (const [impl, v] of Object.entries({ raw: 8e6, zmq: 1.2e6, ts: 5e6, py: 6e4 })) {
    for (const n of NS) out.push(fanout(impl, n, v * n ** 0.1), rr(impl, n, v / n ** 0.1));
  }
  for (const [impl, b] of [["ts", 9000], ["raw", 3000]] as const) {
    for (const n of [0, 100, 1000, 10000]) out.push(idle(impl, n, n ? b : NaN, 2e6 * (1 - n / 4e4)));
  }
  return report(out);
}

describe("lineChart", () => {
  const three: Series[] = [
    { name: "alpha", points: [[1, 10], [10, 100], [100, 1000]] },
    { name: "beta", points: [[1, 20], [10, 30], [100, 50]], emphasis: true },
    { name: "gamma", points: [[1, 5], [10, 6], [100, 7]] },
  ];
  const spec = { title: "T", xLabel: "x", yLabel: "y", xLog: true, yLog: true, series: three, note: "a note" };

  it("is a well-formed standalone SVG document with a fixed viewBox, width and height, and no scripts or external references", () => {
    const svg = lineChart(spec);
    const root = parse(svg);
    expect(root.name).toBe("svg");
    expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    expect(root.attrs.viewBox).toBe("0 0 760 420");
    expect([root.attrs.width, root.attrs.height]).toEqual(["760", "420"]);
    expect(root.attrs["font-family"]).toContain("sans-serif");
    const all = findAll(root, () => true);
    expect(all.filter((e) => ["script", "image", "use", "foreignObject", "style", "a"].includes(e.name))).toEqual([]);
    expect(all.filter((e) => Object.keys(e.attrs).some((a) => a.startsWith("on") || a.endsWith("href")))).toEqual([]);
    expect(svg).not.toContain("url(");
  });

  it("gives each input series exactly one legend entry and one marker per point", () => {
    const root = parse(lineChart(spec));
    expect(legendNames(root)).toEqual(["alpha", "beta", "gamma"]);
    expect(seriesGroups(root)).toHaveLength(3);
    for (const s of three) {
      const g = seriesNamed(root, s.name);
      expect(markersOf(g)).toHaveLength(s.points.length);
      expect(linesOf(g)).toHaveLength(1);
    }
  });

  it("draws every series with its own colour, dash pattern and marker shape, and the emphasised one thicker", () => {
    const root = parse(lineChart(spec));
    const look = three.map((s) => {
      const g = seriesNamed(root, s.name);
      const [line] = linesOf(g);
      const m = markersOf(g)[0];
      return { color: line.attrs.stroke, dash: line.attrs["stroke-dasharray"] ?? "", shape: `${m.name}:${m.attrs.d ? numbersIn(m.attrs.d).length : 0}`, width: +line.attrs["stroke-width"] };
    });
    for (const k of ["color", "dash", "shape"] as const) expect(new Set(look.map((l) => l[k])).size).toBe(3);
    expect(look[1].width).toBeGreaterThan(look[0].width);
    expect(look[1].width).toBeGreaterThan(look[2].width);
    expect(seriesNamed(root, "beta").attrs.class).toContain("emphasis");
  });

  it("breaks a series' line at a NaN, null or missing y: two lines around each gap, no marker for the gap", () => {
    for (const gap of [NaN, null, undefined]) {
      const points = [[1, 1], [2, 2], [4, gap], [8, 8], [16, 16]] as Point[];
      const root = parse(lineChart({ ...spec, series: [{ name: "gappy", points }] }));
      const g = seriesNamed(root, "gappy");
      const lines = linesOf(g);
      expect(lines).toHaveLength(2);
      expect(lines.map((l) => l.attrs.points.trim().split(/\s+/).length)).toEqual([2, 2]);
      expect(markersOf(g)).toHaveLength(4);
    }
  });

  it("keeps a lone point between two gaps as a marker without a line", () => {
    const points: Point[] = [[1, 1], [2, 2], [4, null], [8, 8], [16, null], [32, 32], [64, 64]];
    const g = seriesNamed(parse(lineChart({ ...spec, series: [{ name: "s", points }] })), "s");
    expect(linesOf(g)).toHaveLength(2);
    expect(markersOf(g)).toHaveLength(5);
  });

  it("labels the decades of a log axis from 16 to 16777216", () => {
    expect(logTicks(16, 16777216).major).toEqual([100, 1e3, 1e4, 1e5, 1e6, 1e7]);
    const points: Point[] = SIZES.map((s) => [s, s]);
    const root = parse(lineChart({ ...spec, series: [{ name: "s", points }] }));
    // The drawn axis has a little room beyond the data, so 10 is on it too.
    expect(texts(root, "x-tick")).toEqual(["10", "100", "1k", "10k", "100k", "1M", "10M"]);
  });

  it("labels the 2× and 5× subdivisions only when a log range is narrow", () => {
    expect(logTicks(150, 900).major).toEqual([200, 500]);
    expect(logTicks(3, 250).major).toEqual([5, 10, 20, 50, 100, 200]);
    expect(logTicks(3, 700).major).toEqual([10, 100]);
    expect(logTicks(1, 1e6).major).toEqual([1, 10, 100, 1e3, 1e4, 1e5, 1e6]);
  });

  it("uses 1-2-5 steps on a linear axis, covering the data", () => {
    const t = linearTicks(0, 37);
    expect(t.major).toEqual([0, 10, 20, 30, 40]);
    expect(linearTicks(0.2, 0.9).major).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(-3, 12).major).toEqual([-5, 0, 5, 10, 15]);
  });

  it("places every marker inside the plot frame and the legend above it", () => {
    const root = parse(lineChart(spec));
    const f = frameOf(root);
    for (const m of findAll(root, hasClass("marker"))) {
      const [x, y] = markerCentre(m);
      expect(x).toBeGreaterThanOrEqual(f.x0);
      expect(x).toBeLessThanOrEqual(f.x1);
      expect(y).toBeGreaterThanOrEqual(f.y0);
      expect(y).toBeLessThanOrEqual(f.y1);
    }
    for (const e of findAll(root, hasClass("legend-entry"))) {
      const [line] = findAll(e, (c) => c.name === "line");
      expect(+line.attrs.y1 + 8).toBeLessThan(f.y0);
    }
  });

  it("escapes XML special characters in titles, labels, series names and notes, and reads back the same text", () => {
    const nasty = `a<b & "c" 'd' >`;
    const root = parse(
      lineChart({ ...spec, title: nasty, xLabel: nasty, yLabel: nasty, note: nasty, series: [{ name: nasty, points: [[1, 1], [2, 2]] }] }),
    );
    expect(texts(root, "chart-title")).toEqual([nasty]);
    expect(texts(root, "x-label")).toEqual([nasty]);
    expect(texts(root, "y-label")).toEqual([nasty]);
    expect(legendNames(root)).toEqual([nasty]);
    expect(findAll(root, (e) => e.name === "title").map(textOf)).toEqual([nasty]);
  });

  it("draws a reference line with its own legend entry and extends the y range to include it", () => {
    const root = parse(
      lineChart({ ...spec, yLog: false, series: [{ name: "s", points: [[1, 2], [10, 3]] }], refs: [{ y: 16, label: "16 KiB target" }] }),
    );
    expect(legendNames(root)).toEqual(["s", "16 KiB target"]);
    const [ref] = findAll(root, hasClass("ref-line"));
    const f = frameOf(root);
    expect(+ref.attrs.y1).toBeGreaterThanOrEqual(f.y0);
    expect(+ref.attrs.y1).toBeLessThanOrEqual(f.y1);
  });

  it("returns the same bytes for the same spec", () => {
    expect(lineChart(spec)).toBe(lineChart(structuredClone({ ...spec })));
  });

  it("rejects a spec without a series array with a TypeError", () => {
    expect(() => lineChart({ title: "t" } as never)).toThrow(TypeError);
  });
});

describe("renderCharts", () => {
  const byName = (charts: Chart[]) => Object.fromEntries(charts.map((c) => [c.name, parse(c.svg)]));

  it("draws every sweep of a full report, in a fixed order, as well-formed SVG", () => {
    const charts: Chart[] = renderCharts(fullReport());
    expect(charts.map((c) => c.name)).toEqual(["sweep-msgs", "sweep-mbps", "fanout", "fanout-cpu", "rr", "idle-memory", "idle-active"]);
    for (const c of charts) {
      expect(parse(c.svg).name).toBe("svg");
      expect(c.title.length).toBeGreaterThan(0);
    }
  });

  it("the size sweeps have one series per same-implementation pair, aiomsg-ts emphasised, one marker per size, byte-unit ticks", () => {
    const svgs = byName(renderCharts(fullReport()));
    for (const name of ["sweep-msgs", "sweep-mbps"]) {
      const root = svgs[name];
      expect(legendNames(root)).toEqual(["aiomsg-ts", "raw Node (ceiling)", "zeromq.js", "Python aiomsg"]);
      for (const n of legendNames(root)) expect(markersOf(seriesNamed(root, n))).toHaveLength(SIZES.length);
      expect(seriesNamed(root, "aiomsg-ts").attrs.class).toContain("emphasis");
      const ticks = texts(root, "x-tick");
      expect(ticks).toEqual(expect.arrayContaining(["16 B", "1 KiB", "1 MiB", "16 MiB"]));
    }
  });

  it("plots sizes and N values that are in the report but not in the usual lists", () => {
    const r = report([oneway("ts->ts", 64, 4e6), oneway("ts->ts", 100000, 2e4), oneway("ts->ts", 3000, 3e5), fanout("ts", 7, 5e6), fanout("ts", 50, 6e6)]);
    const svgs = byName(renderCharts(r));
    expect(markersOf(seriesNamed(svgs["sweep-msgs"], "aiomsg-ts"))).toHaveLength(3);
    expect(markersOf(seriesNamed(svgs.fanout, "aiomsg-ts"))).toHaveLength(2);
    // Markers follow the x order of the ids: 64 < 3000 < 100000.
    const xs = markersOf(seriesNamed(svgs["sweep-msgs"], "aiomsg-ts")).map((m) => markerCentre(m)[0]);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(new Set(xs).size).toBe(3);
  });

  it("keeps the pinned placements (oneway/<pair>/<size>/pin2, /pin1) out of the size sweep", () => {
    const unpinned = [oneway("py->py", 64, 3e4), oneway("py->py", 1024, 3e4)];
    const pinned = ["pin2", "pin1"].flatMap((pl) => [64, 1024].map((z) => sc(`oneway/py->py/${z}/${pl}`, { msgs_per_s: 9e5, mb_per_s: 1 })));
    const a = byName(renderCharts(report(unpinned)));
    const b = byName(renderCharts(report([...unpinned, ...pinned])));
    expect(markersOf(seriesNamed(b["sweep-msgs"], "Python aiomsg"))).toHaveLength(2);
    expect(b["sweep-msgs"]).toEqual(a["sweep-msgs"]);
  });

  it("leaves out a chart whose group is absent from the report", () => {
    const onlySweep = renderCharts(report(SIZES.map((s) => oneway("ts->ts", s, 1e5))));
    expect(onlySweep.map((c: Chart) => c.name)).toEqual(["sweep-msgs", "sweep-mbps"]);
    const onlyIdle = renderCharts(report([idle("ts", 1000, 8000, 1e6)]));
    expect(onlyIdle.map((c: Chart) => c.name)).toEqual(["idle-memory", "idle-active"]);
    expect(renderCharts(report([]))).toEqual([]);
    expect(renderCharts({})).toEqual([]);
  });

  it("leaves out an absent implementation and one whose every run failed", () => {
    const r = report([
      ...NS.map((n) => fanout("ts", n, 1e6)),
      ...NS.map((n) => fanout("zmq", n, 1e5)),
      ...NS.map((n) => sc(`fanout/py/${n}`, undefined)),
    ]);
    const root = byName(renderCharts(r)).fanout;
    expect(legendNames(root)).toEqual(["aiomsg-ts", "zeromq.js"]);
  });

  it("breaks a sweep line where every run of a size failed and names the point in the caption", () => {
    const r = report(SIZES.map((s) => (s === 4096 ? sc(`oneway/ts->ts/${s}`, undefined) : oneway("ts->ts", s, 1e5))));
    const root = byName(renderCharts(r))["sweep-msgs"];
    const g = seriesNamed(root, "aiomsg-ts");
    expect(linesOf(g)).toHaveLength(2);
    expect(markersOf(g)).toHaveLength(SIZES.length - 1);
    expect(texts(root, "note").join(" ")).toContain("Every run failed: aiomsg-ts at 4 KiB.");
  });

  it("keeps N = 0 off the log axis of the idle charts and shows it as a 'no idle peers' reference line", () => {
    const svgs = byName(renderCharts(fullReport()));
    const mem = svgs["idle-memory"];
    expect(legendNames(mem)).toEqual(["aiomsg-ts", "raw Node (floor)", "16 KiB target"]);
    expect(markersOf(seriesNamed(mem, "aiomsg-ts"))).toHaveLength(3);
    const active = svgs["idle-active"];
    expect(legendNames(active)).toEqual(["aiomsg-ts", "raw Node (ceiling)", "aiomsg-ts, no idle peers", "raw Node (ceiling), no idle peers"]);
    expect(markersOf(seriesNamed(active, "aiomsg-ts"))).toHaveLength(3);
    expect(findAll(active, hasClass("ref-line"))).toHaveLength(2);
  });

  it("renders the same bytes for the same report", () => {
    const a: Chart[] = renderCharts(fullReport());
    const b: Chart[] = renderCharts(fullReport());
    expect(a.map((c) => c.svg)).toEqual(b.map((c) => c.svg));
  });
});

describe("chartMarkdown", () => {
  it("gives one markdown image line per chart, with the prefix before the chart's name", () => {
    const charts = [
      { name: "sweep-msgs", title: "Sweep", svg: "" },
      { name: "fanout", title: "Fan [out]", svg: "" },
    ];
    expect(chartMarkdown(charts, "bench/results/").split("\n").filter(Boolean)).toEqual([
      "![Sweep](bench/results/sweep-msgs.svg)",
      "![Fan \\[out\\]](bench/results/fanout.svg)",
    ]);
    expect(chartMarkdown([], "x/")).toBe("");
  });
});
