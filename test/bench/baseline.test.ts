/**
 * The benchmark's baseline comparison (`--baseline`, bench/lib/report.mjs and
 * bench/run.mjs), on synthetic reports built here: the "This build against the
 * baseline" table (medians with min–max, ratio, verdict by range overlap), the
 * baseline rows in the existing tables, the report naming the baseline by
 * commit and never by path, nothing of it without baseline scenarios, and the
 * order of a round (each baseline twin next to its aiomsg-ts scenario,
 * alternating which goes first), and the orchestrator refusing a baseline
 * checkout that has not been built.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderMarkdown, verdict } from "../../bench/lib/report.mjs";
import { roundOrder } from "../../bench/lib/rounds.mjs";

const SIZES = [64, 1024, 65536];
const repoDir = fileURLToPath(new URL("../..", import.meta.url));

type Run = Record<string, number>;
type Sc = { id: string; kind: string; runs: Run[]; errors: string[]; summary?: Record<string, number> };

/** A scenario as run.mjs aggregates it: its runs, and the median of each field as summary. */
function sc(id: string, kind: string, runs: Run[]): Sc {
  const summary: Record<string, number> = {};
  for (const k of Object.keys(runs[0])) {
    const v = runs.map((r) => r[k]).sort((a, b) => a - b);
    const m = v.length >> 1;
    summary[k] = v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  }
  return { id, kind, runs, errors: [], summary };
}

const oneway = (...rates: number[]) => rates.map((r) => ({ msgs_per_s: r, mb_per_s: (r * 64) / 1e6, lost: 0, dropped: 0, rss_sender_kb: 60_000, rss_receiver_kb: 50_000 }));
const echo = (...p50s: number[]) => p50s.map((p) => ({ p50_us: p, p99_us: p * 4, round_trips_per_s: 1e6 / p, rss_client_kb: 60_000, rss_server_kb: 60_000 }));

function report(scenarios: Sc[], baseline = true) {
  return {
    schema: 1,
    date: "2026-12-03T17:00:00.000Z",
    wall_time_s: 100,
    command: baseline ? "node bench/run.mjs --baseline DIR" : "node bench/run.mjs",
    config: { runs: 3, sweep_runs: 3, duration_s: 1.5, hwm_seconds: 12, echo_pinned: true },
    machine: {
      cpu: "Test CPU", cores: 2, memory_gib: 8, os: "Linux", node: "v20", python: "3.11", aiomsg_python: "2026.7.1",
      aiomsg_ts: "0.1.0", git: "abc1234", zeromq_js: "6", libzmq: "4", loadavg_at_start: [0, 0, 0], loadavg_at_end: [0, 0, 0],
      ...(baseline ? { baseline: { version: "0.0.9", commit: "1438abc" } } : {}),
    },
    targets: [],
    scenarios: Object.fromEntries(scenarios.map((s) => [s.id, s])),
  };
}

/** The cells after the first of the table row whose first cell is `label`, in the section titled `title`. */
function row(md: string, title: string, label: string): string[] {
  const section = md.split("\n## ").find((s) => s.startsWith(title));
  expect(section, `section ${title}`).toBeDefined();
  const line = section!.split("\n").find((l) => l.startsWith(`| ${label} |`));
  expect(line, `row ${label}`).toBeDefined();
  return line!.split("|").slice(2, -1).map((c) => c.trim());
}

describe("verdict", () => {
  it("is 'within spread' when the two builds' ranges overlap, touching included", () => {
    expect(verdict({ min: 10, max: 20 }, { min: 15, max: 30 }, false)).toBe("within spread");
    expect(verdict({ min: 10, max: 20 }, { min: 20, max: 30 }, true)).toBe("within spread");
    expect(verdict({ min: 5, max: 5 }, { min: 1, max: 9 }, false)).toBe("within spread");
  });
  it("calls a throughput range wholly above the baseline's better and wholly below worse", () => {
    expect(verdict({ min: 21, max: 30 }, { min: 10, max: 20 }, false)).toBe("better");
    expect(verdict({ min: 1, max: 9 }, { min: 10, max: 20 }, false)).toBe("worse");
  });
  it("calls a latency or memory range wholly below the baseline's better and wholly above worse", () => {
    expect(verdict({ min: 1, max: 9 }, { min: 10, max: 20 }, true)).toBe("better");
    expect(verdict({ min: 21, max: 30 }, { min: 10, max: 20 }, true)).toBe("worse");
  });
});

describe("the report with a baseline", () => {
  const scenarios = [
    sc("oneway/ts->ts/64", "oneway", oneway(1.0e6, 1.2e6, 1.1e6)),
    sc("oneway/base->base/64", "oneway", oneway(1.15e6, 1.3e6, 1.25e6)),
    sc("oneway/ts->ts/1024", "oneway", oneway(500e3, 520e3, 510e3)),
    sc("oneway/base->base/1024", "oneway", oneway(300e3, 310e3, 305e3)),
    sc("alo/ts->ts/64", "oneway", oneway(200e3, 210e3, 220e3)),
    sc("alo/base->base/64", "oneway", oneway(300e3, 310e3, 320e3)),
    sc("echo/ts/cross", "echo", echo(50, 55, 60)),
    sc("echo/base/cross", "echo", echo(70, 75, 80)),
    sc("hwm/ts", "hwm", [{ offered_bytes: 2e9, accepted_bytes: 5e6, blocked_for_s: 11, peak_rss_kb: 100_000 }]),
    sc("hwm/base", "hwm", [{ offered_bytes: 2e9, accepted_bytes: 6e6, blocked_for_s: 11, peak_rss_kb: 120_000 }]),
  ];
  const md = renderMarkdown(report(scenarios), { SIZES });
  const title = "This build against the baseline";

  it("gives each figure both builds measured its medians, min–max, ratio and verdict", () => {
    expect(row(md, title, "one-way 64 B (msg/s)")).toEqual(["1.10 M (1.00 M–1.20 M)", "1.25 M (1.15 M–1.30 M)", "0.88×", "within spread"]);
    expect(row(md, title, "one-way 1 KiB (msg/s)")).toEqual(["510.0 k (500.0 k–520.0 k)", "305.0 k (300.0 k–310.0 k)", "1.67×", "better"]);
    expect(row(md, title, "at-least-once 64 B (msg/s)")).toEqual(["210.0 k (200.0 k–220.0 k)", "310.0 k (300.0 k–320.0 k)", "0.68×", "worse"]);
    expect(row(md, title, "echo p50, two cores (µs)")).toEqual(["55.0 (50.0–60.0)", "75.0 (70.0–80.0)", "0.73×", "better"]);
    expect(row(md, title, "bounded memory: peak sender RSS (MB)")).toEqual(["102", "123", "0.83×", "better (1 run)"]);
  });

  it("lists exactly the figures both builds measured, in order", () => {
    const section = md.split("\n## ").find((s) => s.startsWith(title))!;
    const figures = section.split("\n").filter((l) => l.startsWith("| ")).map((l) => l.split("|")[1].trim());
    expect(figures).toEqual([
      "figure",
      "one-way 64 B (msg/s)",
      "one-way 1 KiB (msg/s)",
      "at-least-once 64 B (msg/s)",
      "echo p50, two cores (µs)",
      "echo p99, two cores (µs)",
      "bounded memory: peak sender RSS (MB)",
    ]);
  });

  it("names the baseline by its commit in the machine line and the existing tables", () => {
    expect(md).toContain("baseline: aiomsg-ts 0.0.9 (1438abc, `--baseline`)");
    expect(row(md, "One-way throughput", "aiomsg-ts baseline (1438abc) → itself").slice(0, 2)).toEqual(["1.25 M", "80.0"]);
    expect(row(md, "Echo round trip", "aiomsg-ts baseline (1438abc) ↔ itself")[0]).toBe("75.0");
    expect(row(md, "At-least-once", "aiomsg-ts baseline (1438abc) → itself").slice(0, 1)).toEqual(["310.0 k"]);
    expect(row(md, "Bounded memory", "aiomsg-ts baseline (1438abc)")).toEqual(["2000 MB", "6.0 MB", "11.0 s", "123", "< 300"]);
    expect(row(md, "Bounded memory", "this build")[3]).toBe("102");
  });
});

describe("the report without a baseline", () => {
  it("has no baseline section, rows or column", () => {
    const md = renderMarkdown(report([sc("oneway/ts->ts/64", "oneway", oneway(1e6)), sc("hwm/ts", "hwm", [{ offered_bytes: 2e9, accepted_bytes: 5e6, blocked_for_s: 11, peak_rss_kb: 100_000 }])], false), { SIZES });
    expect(md).not.toContain("This build against the baseline");
    expect(md).not.toContain("aiomsg-ts baseline");
    expect(md).not.toContain("--baseline");
    expect(row(md, "Bounded memory", "2000 MB")).toEqual(["5.0 MB", "11.0 s", "102", "< 300"]);
  });
});

describe("roundOrder", () => {
  const list = [
    { id: "oneway/raw->raw/64" },
    { id: "oneway/ts->ts/64" },
    { id: "oneway/base->base/64", abOf: "oneway/ts->ts/64" },
    { id: "echo/ts/cross" },
    { id: "echo/base/cross", abOf: "echo/ts/cross" },
    { id: "echo/py/cross" },
  ];
  const ids = (r: number) => roundOrder(list, r).map((s: { id: string }) => s.id);
  it("keeps list order in odd rounds: each twin right after its aiomsg-ts scenario", () => {
    expect(ids(1)).toEqual(list.map((s) => s.id));
    expect(ids(3)).toEqual(list.map((s) => s.id));
  });
  it("puts each twin right before its aiomsg-ts scenario in even rounds, moving nothing else", () => {
    const even = ["oneway/raw->raw/64", "oneway/base->base/64", "oneway/ts->ts/64", "echo/base/cross", "echo/ts/cross", "echo/py/cross"];
    expect(ids(2)).toEqual(even);
    expect(ids(4)).toEqual(even);
  });
  it("leaves a list without twins in list order in every round", () => {
    const plain = list.filter((s) => !("abOf" in s));
    for (const r of [1, 2, 3]) expect(roundOrder(plain, r)).toEqual(plain);
  });
});

describe("bench/run.mjs --baseline", () => {
  it("stops with a clear error, before running anything, when the checkout has no built dist", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-bench-baseline-"));
    try {
      for (const [args, env] of [
        [["--baseline", dir], {}],
        [[], { AIOMSG_BENCH_BASELINE: dir }],
      ] as const) {
        const r = spawnSync(process.execPath, ["bench/run.mjs", "--only", "base", ...args], { cwd: repoDir, encoding: "utf8", env: { ...process.env, ...env }, timeout: 20_000 });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`--baseline ${dir}: no packages/core/dist/index.js there`);
        expect(r.stdout).not.toContain("aiomsg-ts bench:");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
