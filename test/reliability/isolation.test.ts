/**
 * Resource isolation: one hostile or stuck peer can neither exhaust the
 * process nor stall the others (README "Guarantees and limits"). Each attack
 * runs against a target bind socket in a child process of its own
 * (fixtures/target-child.mjs), from attackers in another
 * (fixtures/attacker-child.mjs), with healthy peers that are real Python
 * aiomsg processes. Each test checks three things: the target's peak RSS stays
 * under the bound the README documents for its options, the healthy peer
 * keeps its rate throughout, and the attacker is stopped (a coded error, or
 * TCP backpressure where it breaks no rule).
 *
 * AIOMSG_ISOLATION_LIB=<index.js> runs the target on another build of the
 * library (e.g. an older commit) to see these tests fail there.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import * as path from "node:path";
import * as tls from "node:tls";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { Socket } from "../../packages/core/src/index.js";
import { Cleanup, PyPeer, REPO_ROOT, buildCore, makePki, pythonV1, randomIdentity, waitFor, type Pki } from "./helpers.js";

const FIXTURES = path.join(REPO_ROOT, "test", "reliability", "fixtures");
const MiB = 1024 * 1024;

let lib: string;
let python: string;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

beforeAll(async () => {
  lib = process.env.AIOMSG_ISOLATION_LIB ?? (await buildCore());
  python = await pythonV1();
}, 180_000);

interface TargetStats {
  t: number;
  received: Record<string, number>;
  sent: number;
  sendBlockedMs: number;
  dropped: Record<string, number>;
  errors: Record<string, number>;
  disconnects: Record<string, number>;
  peers: number;
  rss: number;
  peakRss: number;
}

/** A child process that prints READY, then STATS <json> lines. */
class Child<S> {
  last: S | undefined;
  ready = false;
  port = 0;
  exited = false;
  readonly stderr: string[] = [];
  private constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      if (line.startsWith("READY")) {
        this.ready = true;
        this.port = Number(line.slice(6)) || 0;
      } else if (line.startsWith("STATS ")) this.last = JSON.parse(line.slice(6)) as S;
    });
    createInterface({ input: proc.stderr! }).on("line", (l) => this.stderr.push(l));
    proc.once("exit", () => (this.exited = true));
  }

  static async start<S>(args: string[], node = true): Promise<Child<S>> {
    const proc = spawn(node ? process.execPath : args.shift()!, args, { stdio: ["pipe", "pipe", "pipe"] });
    const c = new Child<S>(proc);
    cleanup.add(() => c.kill());
    await waitFor(() => c.ready || c.exited, 20_000, `${path.basename(args[0] ?? "child")} READY`);
    if (c.exited) throw new Error(`child exited before READY: ${c.stderr.join("\n")}`);
    return c;
  }

  async next(pred: (s: S) => boolean = () => true, timeoutMs = 10_000, what = "stats"): Promise<S> {
    await waitFor(() => this.last !== undefined && pred(this.last), timeoutMs, what);
    return this.last!;
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    this.proc.kill("SIGKILL");
    await once(this.proc, "exit").catch(() => undefined);
  }
}

async function target(config: Record<string, unknown>): Promise<Child<TargetStats>> {
  const t = await Child.start<TargetStats>([path.join(FIXTURES, "target-child.mjs"), lib, JSON.stringify(config)]);
  await t.next();
  return t;
}

async function attacker(kind: string, port: number, opts: Record<string, unknown> = {}): Promise<Child<{ written: number; done: boolean; buffered: number; open: number; closedByTarget: number }>> {
  return Child.start([path.join(FIXTURES, "attacker-child.mjs"), kind, String(port), JSON.stringify(opts)]);
}

/** A real Python aiomsg peer that sends "h<i>" every 5 ms to the target. */
async function pyProducer(port: number): Promise<{ hex: string; peer: PyPeer }> {
  const hex = randomIdentity().toString("hex");
  const peer = await PyPeer.start(python, ["--role", "connect", "--port", String(port), "--identity", hex, "--source-prefix", "h", "--source-interval", "0.005"]);
  cleanup.add(() => peer.kill());
  return { hex, peer };
}

/** A real Python aiomsg consumer printing its receive count every 100 ms. */
class PyConsumer {
  count = 0;
  private constructor(readonly child: Child<unknown>) {}
  static async start(port: number, stopAfter = 0): Promise<PyConsumer> {
    const child = await Child.start<unknown>([python, path.join(FIXTURES, "py_consumer.py"), "--port", String(port), "--stop-after", String(stopAfter)], false);
    const c = new PyConsumer(child);
    createInterface({ input: child.proc.stdout! }).on("line", (l) => {
      if (l.startsWith("C ")) c.count = Number(l.slice(2));
    });
    return c;
  }
}

/**
 * Samples `read()` every `windowMs` for `windows` windows and returns the
 * increase in each: the healthy peer's rate over the attack.
 */
async function rate(read: () => number, windows: number, windowMs = 500): Promise<number[]> {
  const out: number[] = [];
  let prev = read();
  for (let i = 0; i < windows; i++) {
    await new Promise((r) => setTimeout(r, windowMs)); // sampling a rate over wall-clock windows, not waiting for an event
    const now = read();
    out.push(now - prev);
    prev = now;
  }
  return out;
}

function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/**
 * The receive-side bound of README "Guarantees and limits" for given options:
 * receiveHighWaterMark + the largest message (the read that crosses the mark)
 * + partialFrameBudget + 256 KiB per connection (a frame within the 64 KiB
 * allowance, one held read, and Node's own socket buffers), plus the send
 * side's highWaterMark.
 */
function bound(o: { receiveHighWaterMark: number; maxFrameSize: number; partialFrameBudget: number; highWaterMark: number; conns: number }): number {
  return o.receiveHighWaterMark + o.maxFrameSize + o.partialFrameBudget + o.conns * 256 * 1024 + o.highWaterMark;
}

/**
 * What the process needs beyond the bound: the idle runtime (a target's RSS
 * before any peer is 53 MiB here) and reads already let go that V8 has not
 * collected yet (it collects external memory after about 64 MiB of churn).
 */
const RUNTIME_SLACK = 128 * MiB;

describe("resource isolation: one peer can neither exhaust the process nor stall the others", () => {
  it("a flood of empty DATA frames: memory stays under the receive bound, the healthy Python producer keeps its rate, the attacker is pushed back by TCP", async () => {
    const opts = { receiveHighWaterMark: 4 * MiB, maxFrameSize: 1 * MiB, partialFrameBudget: 2 * MiB, highWaterMark: 1 * MiB };
    const t = await target({ socket: opts, read: { everyMs: 1 } });
    const healthy = await pyProducer(t.port);
    await t.next((s) => (s.received[healthy.hex] ?? 0) > 20, 10_000, "the healthy producer flowing");
    const base = t.last!.rss;
    const a = await attacker("empty-flood", t.port);
    await a.next((s) => s.buffered > 0, 10_000, "the flood under way (the attacker's own buffers filling)");
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 8);
    const s = await t.next();
    const limit = bound({ ...opts, conns: 2 }) + RUNTIME_SLACK;
    console.log(`[isolation] empty flood: target peak RSS ${mb(s.peakRss)} (baseline ${mb(base)}, limit ${mb(limit)}); healthy per 500 ms ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}, ${mb(a.last!.buffered)} waiting in its own buffers`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    // 5 ms per message: ~100 per 500 ms when nothing stands in the way.
    expect(Math.min(...rates), `healthy producer's messages per 500 ms: ${rates.join(",")}`).toBeGreaterThan(50);
    expect(a.last!.buffered, "the attacker is held back by TCP backpressure").toBeGreaterThan(0);
  });

  it("a flood that pins a 64 KiB read with each 1-byte message: memory stays under the receive bound, the healthy Python producer keeps its rate", async () => {
    const opts = { receiveHighWaterMark: 4 * MiB, maxFrameSize: 1 * MiB, partialFrameBudget: 2 * MiB, highWaterMark: 1 * MiB };
    const t = await target({ socket: opts, read: { everyMs: 1 } });
    const healthy = await pyProducer(t.port);
    await t.next((s) => (s.received[healthy.hex] ?? 0) > 20, 10_000, "the healthy producer flowing");
    const base = t.last!.rss;
    const a = await attacker("pinned-flood", t.port);
    await a.next((s) => s.written > 64 * MiB, 10_000, "the flood under way");
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 8);
    const s = await t.next();
    const limit = bound({ ...opts, conns: 2 }) + RUNTIME_SLACK;
    console.log(`[isolation] pinned-read flood: target peak RSS ${mb(s.peakRss)} (baseline ${mb(base)}, limit ${mb(limit)}); healthy per 500 ms ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per 500 ms: ${rates.join(",")}`).toBeGreaterThan(50);
    expect(a.last!.buffered, "the attacker is held back by TCP backpressure").toBeGreaterThan(0);
  });

  it("200 connections each holding a 15 MiB frame open: memory stays under partialFrameBudget, the healthy Python producer keeps its rate, the attackers are closed with ERR_AIOMSG_HEARTBEAT_TIMEOUT", async () => {
    const opts = { receiveHighWaterMark: 4 * MiB, maxFrameSize: 16 * MiB, partialFrameBudget: 32 * MiB, highWaterMark: 1 * MiB, heartbeatInterval: 500, heartbeatTimeout: 3000 };
    const t = await target({ socket: opts, read: "fast" });
    const healthy = await pyProducer(t.port);
    await t.next((s) => (s.received[healthy.hex] ?? 0) > 20, 10_000, "the healthy producer flowing");
    const a = await attacker("partial-frames", t.port, { conns: 200 });
    await t.next((s) => s.peers >= 150, 10_000, "the attackers connected");
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 4);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_HEARTBEAT_TIMEOUT ?? 0) >= 200, 20_000, "every attacker closed at heartbeatTimeout");
    const limit = bound({ ...opts, conns: 201 }) + RUNTIME_SLACK;
    console.log(`[isolation] 200 partial frames: target peak RSS ${mb(s.peakRss)} (limit ${mb(limit)}); healthy per 500 ms ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}; errors ${JSON.stringify(s.errors)}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per 500 ms: ${rates.join(",")}`).toBeGreaterThan(50);
    expect(s.received[healthy.hex]).toBeGreaterThan(0);
  });

  it("a 15 MiB frame sent as 1-byte WebSocket frames costs its bytes, not a view per byte", async () => {
    const opts = { receiveHighWaterMark: 4 * MiB, maxFrameSize: 16 * MiB, partialFrameBudget: 32 * MiB, highWaterMark: 1 * MiB, heartbeatInterval: 500, heartbeatTimeout: 20_000 };
    const t = await target({ socket: opts, read: "fast" });
    const healthy = await pyProducer(t.port);
    await t.next((s) => (s.received[healthy.hex] ?? 0) > 20, 10_000, "the healthy producer flowing");
    const a = await attacker("ws-partial", t.port);
    await a.next((s) => s.done, 60_000, "the whole frame but its last byte sent");
    await a.next((s) => s.buffered === 0, 30_000, "the target has read it all");
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 4);
    const s = await t.next();
    const limit = bound({ ...opts, conns: 2 }) + RUNTIME_SLACK;
    console.log(`[isolation] WS 1-byte frames: target peak RSS ${mb(s.peakRss)} (limit ${mb(limit)}); healthy per 500 ms ${rates.join(",")}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per 500 ms: ${rates.join(",")}`).toBeGreaterThan(50);
  }, 90_000);
});
