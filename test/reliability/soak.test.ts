/**
 * The soak script (interop/soak.mjs) in CI: a short run (~36 s) of sustained
 * two-way at-least-once traffic with a real Python aiomsg peer SIGKILLed and
 * restarted every few seconds. The script is run as its own process against
 * the current sources (compiled to a temp dir), so RSS and handle counts are
 * those of the library, not of the test runner.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, buildCore, pythonV1 } from "./helpers.js";

const SOAK = path.join(REPO_ROOT, "interop", "soak.mjs");
let lib: string;
beforeAll(async () => {
  lib = await buildCore();
  await pythonV1();
}, 300_000);

interface SoakModule {
  parseArgs(argv: string[]): { minutes: number; reportEvery: number; restartEvery: number; lib: string };
  flatness(samples: Array<{ rss: number; heap: number; handles: number }>): { ok: boolean };
  SeqTracker: new () => { add(i: number): void; has(i: number): boolean; count: number; duplicates: number; low: number; missing(end: number): { count: number; sample: number[] } };
}
const load = async (): Promise<SoakModule> => (await import(pathToFileURL(SOAK).href)) as SoakModule;

describe("interop/soak.mjs", () => {
  it("parses --minutes as a fraction, tolerates pnpm's `--`, and rejects nonsense", async () => {
    const { parseArgs } = await load();
    expect(parseArgs(["--", "--minutes", "0.5"]).minutes).toBe(0.5);
    const short = parseArgs(["--minutes", "0.5"]);
    expect(short.restartEvery).toBeLessThan(30);
    expect(short.reportEvery).toBeLessThanOrEqual(10);
    expect(() => parseArgs(["--minutes", "zero"])).toThrow(TypeError);
    expect(() => parseArgs(["--minutes", "-1"])).toThrow(TypeError);
    expect(() => parseArgs(["--bogus"])).toThrow(TypeError);
  });

  it("judges growth: flat samples pass, a steady climb fails", async () => {
    const { flatness } = await load();
    const MiB = 2 ** 20;
    const flat = Array.from({ length: 30 }, (_, i) => ({ rss: 60 * MiB + (i % 3) * MiB, heap: 8 * MiB, handles: 10 + (i % 2) }));
    expect(flatness(flat).ok).toBe(true);
    const leakRss = flat.map((s, i) => ({ ...s, rss: s.rss + i * 2 * MiB }));
    expect(flatness(leakRss).ok).toBe(false);
    const leakHeap = flat.map((s, i) => ({ ...s, heap: s.heap + i * MiB }));
    expect(flatness(leakHeap).ok).toBe(false);
    const leakHandles = flat.map((s, i) => ({ ...s, handles: s.handles + i }));
    expect(flatness(leakHandles).ok).toBe(false);
    expect(flatness(flat.slice(0, 4)).ok).toBe(false); // too short to judge is not a pass
  });

  it("counts arrivals, duplicates and gaps in bounded memory", async () => {
    const { SeqTracker } = await load();
    const t = new SeqTracker();
    for (const i of [0, 1, 3, 2, 2, 5, 0]) t.add(i);
    expect([t.count, t.duplicates, t.low]).toEqual([5, 2, 4]);
    expect(t.missing(7)).toEqual({ count: 2, sample: [4, 6] });
  });

  it("a short soak against real Python aiomsg: no loss, several restarts, resources flat", async () => {
    const child = spawn(process.execPath, [SOAK, "--minutes", "0.6", "--lib", lib, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 150_000);
    const [code] = (await once(child, "close")) as [number | null]; // "close": stdio drained too
    clearTimeout(killer);
    if (stderr) console.log(stderr);
    console.log(stdout.split("\n").filter((l) => l.startsWith("[soak]")).join("\n"));
    const line = stdout.split("\n").find((l) => l.startsWith("SOAK_RESULT "));
    expect(line, "the soak printed its result").toBeDefined();
    const r = JSON.parse(line!.slice("SOAK_RESULT ".length));
    expect(r.restarts).toBeGreaterThanOrEqual(4);
    expect(r.tsToPy.sent).toBeGreaterThan(5000);
    expect(r.tsToPy.missing).toBe(0);
    expect(r.pyToTs.received).toBeGreaterThan(2000);
    expect(r.pyToTs.gaps).toBe(0);
    expect(r.dropped).toBe(0);
    expect(r.flat.ok).toBe(true);
    expect(r.ok).toBe(true);
    expect(code).toBe(0);
  }, 180_000);
});
