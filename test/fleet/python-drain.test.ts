/**
 * How real Python aiomsg peers (2026.7.1 and 2019.12.3, from PyPI, in their
 * own processes via interop/python/agent.py) react to each step of drain()
 * (docs/fleet.md "Python peers and drain"), on loopback:
 * - a TS bind end drains while a Python connect end sends to it and to a
 *   second TS bind end: Python closes its side as soon as it reads the FIN
 *   (drain() ends long before its deadline), routes the rest to the other
 *   bind end, and retries the drained address (refused) every 100 ms;
 *   at-least-once: nothing lost; at-most-once: nothing lost on the TS side,
 *   and at most the one message Python was routing to that connection as it
 *   saw the FIN is lost inside Python;
 * - a TS connect end drains towards a Python bind end: what send() accepted
 *   is delivered (and acknowledged, on 2026.7.1) before the half-close; a
 *   2026.7.1 bind end closes its side on the FIN, a 2019.12.3 one keeps the
 *   half-open connection, so drain() closes it at its deadline.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Socket } from "../../packages/core/dist/index.js";
import { provisionRelease } from "../../interop/lib/python.mjs";

const AGENT = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../interop/python/agent.py");
const RELEASES = [
  // bindClosesOnFin: whether its bind end closes its side when it reads our FIN.
  { version: "2026.7.1", wire: "v1" as const, deliveries: ["at-least-once", "at-most-once"] as const, bindClosesOnFin: true },
  { version: "2019.12.3", wire: "legacy" as const, deliveries: ["at-least-once", "at-most-once"] as const, bindClosesOnFin: false },
];
const pythons: Record<string, string> = {};
const cleanup: Array<() => unknown> = [];

beforeAll(async () => {
  for (const r of RELEASES) {
    const p = await provisionRelease(r.version);
    if (!p.ok) throw new Error(`aiomsg ${r.version}: ${p.stage}: ${p.error}`);
    pythons[r.version] = p.python;
  }
}, 240_000);

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function agent(version: string, args: string[]): { child: ChildProcess; out: string[]; err: () => string; exited: Promise<number | null> } {
  const child = spawn(pythons[version]!, [AGENT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const out: string[] = [];
  let err = "";
  let buf = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    out.push(...lines);
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  cleanup.push(() => {
    child.kill("SIGKILL");
    return exited;
  });
  return { child, out, err: () => err, exited };
}

async function sink(protocol: "v1" | "legacy"): Promise<{ s: Socket; got: string[] }> {
  const s = new Socket({ protocol });
  cleanup.push(() => s.close({ linger: 0 }));
  await s.bind("127.0.0.1", 0);
  const got: string[] = [];
  void (async () => {
    for await (const m of s) got.push(m.toString());
  })();
  return { s, got };
}

describe("Python peers and drain()", () => {
  for (const r of RELEASES) {
    for (const delivery of r.deliveries) {
      it(`a TS bind end drains under a Python ${r.version} ${delivery} sender that also feeds a second bind end: Python closes its side on the FIN, its traffic moves to the other bind end, ${delivery === "at-least-once" ? "nothing is lost" : "at most its one in-flight message is lost (in Python)"}`, async () => {
        const a = await sink(r.wire);
        const b = await sink(r.wire);
        const count = 2000;
        const py = agent(r.version, [
          "--role", "connect", "--behavior", "source", "--ports", `${a.s.port},${b.s.port}`,
          "--count", String(count), "--interval", "0.002", "--delivery", delivery, "--linger", "3",
        ]);
        await until(() => a.got.length > 100 && b.got.length > 100, 20_000, "traffic on both bind ends");
        const start = performance.now();
        let closedAfter = -1;
        a.s.on("peerDisconnected", () => (closedAfter = performance.now() - start));
        await a.s.drain({ timeout: 5000 });
        const took = performance.now() - start;
        expect(a.s.stats().dropped).toEqual({});
        // Python closed its side in reply to the FIN: the drain did not run into its deadline.
        expect(closedAfter, "Python closed its side").toBeGreaterThanOrEqual(0);
        expect(took, "drain() ended before its deadline").toBeLessThan(5000);
        const before = b.got.length;
        await until(() => b.got.length > before + 100, 20_000, "the traffic moving to the other bind end");
        // Python keeps dialling the drained address (refused) while it sends to the other one.
        await until(() => /reconnect|Connection error|refused/i.test(py.err()), 20_000, "Python retrying the drained address");
        expect(await py.exited).toBe(0);
        await until(() => new Set([...a.got, ...b.got]).size >= count - 1, 10_000, "the messages");
        const got = new Set([...a.got, ...b.got]);
        const missing = Array.from({ length: count }, (_, i) => `m${i}`).filter((m) => !got.has(m));
        console.log(
          `[python-drain] ${r.version} ${delivery}: Python closed ${Math.round(closedAfter)} ms after the FIN; drained in ${Math.round(took)} ms; ` +
            `received ${a.got.length + b.got.length} of ${count} (${a.got.length + b.got.length - got.size} duplicates), missing ${missing.join(",") || "none"}`,
        );
        if (delivery === "at-least-once") expect(missing).toEqual([]);
        else expect(missing.length, `lost inside Python: ${missing.join(",")}`).toBeLessThanOrEqual(1);
      }, 60_000);
    }

    it(`a TS connect end drains towards a Python ${r.version} bind end: everything send() accepted arrives before the half-close; ${r.bindClosesOnFin ? "Python closes its side on the FIN" : "Python keeps the half-open connection, closed at drain()'s deadline"}`, async () => {
      const py = agent(r.version, ["--role", "bind", "--behavior", "sink", "--port", "0", "--forever", "true"]);
      await until(() => /EVENT ready \d+/.test(py.err()), 20_000, "the Python bind end");
      const port = Number(/EVENT ready (\d+)/.exec(py.err())![1]);
      const reliable = r.wire === "v1";
      const c = new Socket({ protocol: r.wire, deliveryGuarantee: reliable ? "at-least-once" : "at-most-once" });
      cleanup.push(() => c.close({ linger: 0 }));
      await c.connect("127.0.0.1", port);
      await until(() => c.peerCount === 1, 20_000, "connected to the Python bind end");
      const n = 500;
      for (let i = 0; i < n; i++) await c.send(`d${i}`);
      const start = performance.now();
      const timeout = r.bindClosesOnFin ? 5000 : 1500;
      await c.drain({ timeout });
      const took = performance.now() - start;
      expect(c.stats().dropped).toEqual({});
      expect(c.stats().unacknowledged).toBe(0);
      await until(() => py.out.length >= n, 10_000, "the Python sink printing every message");
      expect(py.out.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => `d${i}`));
      if (r.bindClosesOnFin) expect(took, "drain() ended before its deadline").toBeLessThan(timeout);
      else expect(took, "drain() waited for Python until its deadline").toBeGreaterThanOrEqual(timeout - 5);
      console.log(`[python-drain] TS connect end -> Python ${r.version} bind end (${reliable ? "at-least-once" : "at-most-once"}): drained in ${Math.round(took)} ms`);
    }, 60_000);
  }
});
