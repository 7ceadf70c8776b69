/**
 * `aiomsg-ts agent`, the conformance agent, against the CLI contract in docs/protocol.md,
 * with real Python aiomsg 2026.7.1 as the other agent.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { Proc, Procs, provisionPython, readyPort, REPO_ROOT } from "./helpers.js";

const procs = new Procs();
afterEach(() => procs.killAll());
let py: string;
beforeAll(async () => {
  py = await provisionPython("v1");
});

describe("aiomsg-ts agent", () => {
  it("--help prints the contract's flags on stdout and exits 0", async () => {
    const p = procs.cli("agent --help", ["agent", "--help"]);
    expect(await p.waitExit(10_000)).toBe(0);
    expect(p.out[0]).toMatch(/^Usage: aiomsg-ts agent --role bind\|connect --behavior/);
    expect(p.out.join("\n")).toContain("--count N");
  });

  it("a sink with --count 0 exits at once with status 0 and prints nothing", async () => {
    const p = procs.cli("sink count 0", ["agent", "--role", "bind", "--port", "0", "--behavior", "sink", "--count", "0"]);
    expect(await p.waitExit(5_000)).toBe(0);
    expect(p.out).toEqual([]);
    expect(p.err).toContain("EVENT done");
  });

  it("an empty --identity generates one, which the Python peer sees", async () => {
    const sink = procs.py("py sink", py, ["--role", "bind", "--port", "0", "--behavior", "sink", "--count", "1"]);
    const port = await readyPort(sink);
    const src = procs.cli("ts source", ["agent", "--role", "connect", "--port", String(port), "--behavior", "source",
      "--count", "1", "--identity", "", "--linger", "0.5"]);
    const id = (await src.waitErr(/^ts-agent identity ([0-9a-f]{32})/, 10_000))[1];
    expect(await sink.waitExit(15_000)).toBe(0);
    expect(sink.out).toEqual(["m0"]);
    expect(sink.err.some((l) => l.startsWith(`EVENT peer-connected ${id}`))).toBe(true);
    expect(await src.waitExit(10_000)).toBe(0);
  });

  it("--forever true keeps a sink printing past --count until it is stopped", async () => {
    const sink = procs.cli("ts sink", ["agent", "--role", "bind", "--port", "0", "--behavior", "sink", "--count", "1", "--forever", "true"]);
    const port = await readyPort(sink);
    const src = procs.py("py source", py, ["--role", "connect", "--port", String(port), "--behavior", "source", "--count", "5", "--linger", "0.3"]);
    await sink.waitOut((l) => l.length >= 5, 15_000, "5 lines");
    expect(await src.waitExit(10_000)).toBe(0);
    expect(sink.out).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(sink.exited).toBe(false);
  });

  it("the interop wrapper runs the same agent; a bad flag is a usage error (exit 2)", async () => {
    const wrapper = procs.add(new Proc("wrapper", process.execPath, [path.join(REPO_ROOT, "interop", "bin", "aiomsg-ts-agent"), "--help"]));
    expect(await wrapper.waitExit(10_000)).toBe(0);
    expect(wrapper.out[0]).toMatch(/^Usage: aiomsg-ts agent/);
    const bad = procs.cli("bad flag", ["agent", "--role", "bind", "--behavior", "sink", "--colour", "blue"]);
    expect(await bad.waitExit(10_000)).toBe(2);
    expect(bad.err.join("\n")).toContain("unknown flag --colour");
  });
});
