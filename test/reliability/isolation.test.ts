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
    createInterface({ input: proc.stderr! }).on("line", (l) => {
      this.stderr.push(l);
      if (this.stderr.length > 200) this.stderr.shift(); // a stuck Python consumer logs every message it drops
    });
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
  private constructor(
    readonly child: Child<unknown>,
    readonly hex: string,
  ) {}
  static async start(port: number, stopAfter = 0, hex = randomIdentity().toString("hex")): Promise<PyConsumer> {
    const args = [python, path.join(FIXTURES, "py_consumer.py"), "--port", String(port), "--stop-after", String(stopAfter), "--identity", hex];
    const child = await Child.start<unknown>(args, false);
    const c = new PyConsumer(child, hex);
    createInterface({ input: child.proc.stdout! }).on("line", (l) => {
      if (l.startsWith("C ")) c.count = Number(l.slice(2));
    });
    return c;
  }
}

async function PyConsumerWithIdentity(port: number, hex: string): Promise<PyConsumer> {
  return PyConsumer.start(port, 0, hex);
}

/**
 * Samples `read()` every `windowMs` for `windows` windows and returns the
 * increase in each: the healthy peer's rate over the attack. Windows are a
 * second long and the floors a fraction of the offered rate, so that a busy
 * machine does not fail a test while a stall (zero for seconds) always does.
 */
async function rate(read: () => number, windows: number, windowMs = 1000): Promise<number[]> {
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
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 4);
    const s = await t.next();
    const limit = bound({ ...opts, conns: 2 }) + RUNTIME_SLACK;
    console.log(`[isolation] empty flood: target peak RSS ${mb(s.peakRss)} (baseline ${mb(base)}, limit ${mb(limit)}); healthy per s ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}, ${mb(a.last!.buffered)} waiting in its own buffers`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    // 5 ms per message: ~100 per s when nothing stands in the way.
    expect(Math.min(...rates), `healthy producer's messages per s: ${rates.join(",")}`).toBeGreaterThan(40);
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
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 4);
    const s = await t.next();
    const limit = bound({ ...opts, conns: 2 }) + RUNTIME_SLACK;
    console.log(`[isolation] pinned-read flood: target peak RSS ${mb(s.peakRss)} (baseline ${mb(base)}, limit ${mb(limit)}); healthy per s ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per s: ${rates.join(",")}`).toBeGreaterThan(40);
    expect(a.last!.buffered, "the attacker is held back by TCP backpressure").toBeGreaterThan(0);
  });

  it("200 connections each holding a 15 MiB frame open: memory stays under partialFrameBudget, the healthy Python producer keeps its rate, the attackers are closed with ERR_AIOMSG_HEARTBEAT_TIMEOUT", async () => {
    const opts = { receiveHighWaterMark: 4 * MiB, maxFrameSize: 16 * MiB, partialFrameBudget: 32 * MiB, highWaterMark: 1 * MiB, heartbeatInterval: 500, heartbeatTimeout: 3000 };
    const t = await target({ socket: opts, read: "fast" });
    const healthy = await pyProducer(t.port);
    await t.next((s) => (s.received[healthy.hex] ?? 0) > 20, 10_000, "the healthy producer flowing");
    const a = await attacker("partial-frames", t.port, { conns: 200 });
    await t.next((s) => s.peers >= 50, 20_000, "the attackers connecting");
    const rates = await rate(() => t.last!.received[healthy.hex] ?? 0, 4);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_HEARTBEAT_TIMEOUT ?? 0) >= 200, 20_000, "every attacker closed at heartbeatTimeout");
    const limit = bound({ ...opts, conns: 201 }) + RUNTIME_SLACK;
    console.log(`[isolation] 200 partial frames: target peak RSS ${mb(s.peakRss)} (limit ${mb(limit)}); healthy per s ${rates.join(",")}; attacker wrote ${mb(a.last!.written)}; errors ${JSON.stringify(s.errors)}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per s: ${rates.join(",")}`).toBeGreaterThan(40);
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
    console.log(`[isolation] WS 1-byte frames: target peak RSS ${mb(s.peakRss)} (limit ${mb(limit)}); healthy per s ${rates.join(",")}`);
    expect(s.peakRss, "target peak RSS").toBeLessThan(limit);
    expect(Math.min(...rates), `healthy producer's messages per s: ${rates.join(",")}`).toBeGreaterThan(40);
  }, 90_000);

  it("round-robin with a peer that never reads but heartbeats: the healthy Python consumer keeps its rate, the stuck peer is evicted with ERR_AIOMSG_SLOW_CONSUMER", async () => {
    // heartbeatTimeout stays at its default: the Python consumer heartbeats every 5 s.
    const opts = { highWaterMark: 8 * MiB, stallTimeout: 2000 };
    const t = await target({ socket: opts, read: "fast", send: { everyMs: 1, perTick: 20, size: 1024 } });
    const healthy = await PyConsumer.start(t.port);
    await waitFor(() => healthy.count > 1000, 10_000, "the healthy consumer receiving");
    const a = await attacker("never-read", t.port, { heartbeatMs: 200 });
    const rates = await rate(() => healthy.count, 5);
    console.log(`[isolation] never-reading peer, round-robin: healthy per s ${rates.join(",")}`);
    // 20 KiB per ms are offered; the healthy consumer never goes quiet.
    expect(Math.min(...rates), `healthy consumer's messages per s: ${rates.join(",")}`).toBeGreaterThan(1000);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_SLOW_CONSUMER ?? 0) >= 1, 10_000, "the stuck peer evicted");
    console.log(`[isolation] never-reading peer, round-robin: target peak RSS ${mb(s.peakRss)}; errors ${JSON.stringify(s.errors)}; attacker closed ${a.last!.closedByTarget}`);
    expect(s.peakRss).toBeLessThan(opts.highWaterMark + RUNTIME_SLACK);
    await a.next((x) => x.closedByTarget === 1, 5000, "the attacker's connection closed by the target");
  }, 60_000);

  it("publish with a subscriber that never reads: the healthy Python subscriber keeps its rate, the stuck one's messages are dropped with ERR_AIOMSG_PEER_FULL, then it is evicted", async () => {
    const opts = { sendMode: "publish", highWaterMark: 8 * MiB, stallTimeout: 2000 };
    const t = await target({ socket: opts, read: "fast", send: { everyMs: 1, perTick: 10, size: 1024 } });
    const healthy = await PyConsumer.start(t.port);
    await waitFor(() => healthy.count > 1000, 10_000, "the healthy subscriber receiving");
    const a = await attacker("never-read", t.port, { heartbeatMs: 200 });
    const rates = await rate(() => healthy.count, 5);
    console.log(`[isolation] never-reading subscriber, publish: healthy per s ${rates.join(",")}`);
    expect(Math.min(...rates), `healthy subscriber's messages per s: ${rates.join(",")}`).toBeGreaterThan(1000);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_SLOW_CONSUMER ?? 0) >= 1, 10_000, "the stuck subscriber evicted");
    console.log(`[isolation] never-reading subscriber, publish: dropped ${JSON.stringify(s.dropped)}; errors ${JSON.stringify(s.errors)}`);
    expect(s.dropped.ERR_AIOMSG_PEER_FULL ?? 0).toBeGreaterThan(0);
    expect(s.peakRss).toBeLessThan(opts.highWaterMark + RUNTIME_SLACK);
  }, 60_000);

  it("a real Python consumer whose application stops calling recv() while its library keeps heartbeating does not slow round-robin sends to two other Python consumers", async () => {
    // Python aiomsg (both generations) keeps reading once its 65,536-message
    // queue is full, dropping each message with an error log: the stuck
    // consumer becomes a slow one (its logging is its pace) that never stops
    // heartbeating. Round-robin must route around it rather than wait for it.
    const opts = { highWaterMark: 8 * MiB, stallTimeout: 2000 };
    const t = await target({ socket: opts, read: "fast", send: { everyMs: 1, perTick: 30, size: 512 } });
    const stuck = await PyConsumer.start(t.port, 2000);
    const h1 = await PyConsumer.start(t.port);
    const h2 = await PyConsumer.start(t.port);
    await waitFor(() => stuck.count >= 2000, 10_000, "the stuck consumer's application to stop reading");
    // Long enough for its 65,536-message queue to fill and its own pace to show.
    const [rates1, rates2] = await Promise.all([rate(() => h1.count, 12), rate(() => h2.count, 12)]);
    const s = await t.next();
    console.log(`[isolation] stuck Python consumer: healthy per s ${rates1.join(",")} | ${rates2.join(",")}; sent ${s.sent}; disconnects ${JSON.stringify(s.disconnects)}`);
    expect(Math.min(...rates1), `first healthy consumer per s: ${rates1.join(",")}`).toBeGreaterThan(1000);
    expect(Math.min(...rates2), `second healthy consumer per s: ${rates2.join(",")}`).toBeGreaterThan(1000);
    expect(s.sendBlockedMs, "the target's send() is not held up").toBeLessThan(1000);
  }, 90_000);

  it("a peer flooding DATA_REQ that never reads its ACKs: ACKs stay bounded, sends by identity to a healthy Python consumer keep their rate, the flooder is evicted with ERR_AIOMSG_SLOW_CONSUMER", async () => {
    const opts = { highWaterMark: 8 * MiB, stallTimeout: 2000, receiveHighWaterMark: 4 * MiB, maxFrameSize: 1 * MiB, partialFrameBudget: 2 * MiB };
    const hex = randomIdentity().toString("hex");
    // The target sends by identity to the consumer started below (its identity is fixed up front).
    const t = await target({ socket: opts, read: "fast", send: { everyMs: 1, perTick: 10, size: 256, to: hex } });
    const healthy = await PyConsumerWithIdentity(t.port, hex);
    await waitFor(() => healthy.count > 1000, 10_000, "the healthy consumer receiving");
    const a = await attacker("req-flood", t.port);
    const rates = await rate(() => healthy.count, 4);
    console.log(`[isolation] DATA_REQ flood without reading: healthy per s ${rates.join(",")}`);
    expect(Math.min(...rates), `healthy consumer per s: ${rates.join(",")}`).toBeGreaterThan(1000);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_SLOW_CONSUMER ?? 0) >= 1, 15_000, "the flooder evicted");
    console.log(`[isolation] DATA_REQ flood without reading: target peak RSS ${mb(s.peakRss)}; errors ${JSON.stringify(s.errors)}; attacker wrote ${mb(a.last!.written)}`);
    expect(s.peakRss).toBeLessThan(bound({ ...opts, conns: 2 }) + RUNTIME_SLACK);
  }, 60_000);

  it("TCP connections to a TLS port that never send a ClientHello count against maxPeers and are closed at handshakeTimeout (ERR_AIOMSG_HANDSHAKE_TIMEOUT); a healthy TLS peer gets in once they are gone", async () => {
    const pki = await pkiOnce();
    const opts = { maxPeers: 20, handshakeTimeout: 1000 };
    const t = await target({ socket: opts, read: "fast", tls: { cert: pki.serverCert, key: pki.serverKey } });
    const a = await attacker("tls-silent", t.port, { conns: 50 });
    const s1 = await t.next((x) => (x.errors.ERR_AIOMSG_MAX_PEERS ?? 0) >= 30, 5000, "the 30 connections beyond maxPeers refused");
    const s2 = await t.next((x) => (x.errors.ERR_AIOMSG_HANDSHAKE_TIMEOUT ?? 0) >= 20, 5000, "the 20 admitted ones closed at handshakeTimeout");
    await a.next((x) => x.closedByTarget === 50, 5000, "every silent connection closed by the target");
    console.log(`[isolation] silent TLS connections: errors ${JSON.stringify(s2.errors)} (refused ${s1.errors.ERR_AIOMSG_MAX_PEERS} at once)`);
    const good = cleanup.socket(new Socket({ reconnectionDelay: 50 }));
    const up = new Promise<void>((r) => good.once("peerConnected", () => r()));
    await good.connect("127.0.0.1", t.port, { tls: { ca: readFileSync(pki.ca), servername: "localhost" } });
    await up;
    await good.send("after the attack");
    await t.next((x) => (x.received[good.identity.toString("hex")] ?? 0) === 1, 5000, "the healthy TLS peer's message");
  }, 30_000);

  it("at-least-once with a peer that reads but never acknowledges: deliveries to the healthy Python consumer never pause, the silent peer throttles only itself", async () => {
    const opts = { deliveryGuarantee: "at-least-once", highWaterMark: 1 * MiB, resendInterval: 3000 };
    const t = await target({ socket: opts, read: "fast", send: { everyMs: 1, perTick: 10, size: 256 } });
    const healthy = await PyConsumer.start(t.port);
    await waitFor(() => healthy.count > 500, 10_000, "the healthy consumer receiving");
    const a = await attacker("no-ack", t.port, { heartbeatMs: 200 });
    await t.next((x) => x.peers === 2, 5000, "the silent peer connected");
    // Windows of 500 ms: a pause of the 2-4 s kind shows as zeros.
    const rates = await rate(() => healthy.count, 8, 500);
    const s = await t.next();
    console.log(`[isolation] never-ACKing peer: healthy per 500 ms ${rates.join(",")}; dropped ${JSON.stringify(s.dropped)}; attacker still connected ${a.last!.open}`);
    // 10 per ms offered, half of it to the healthy consumer when the silent one has room.
    expect(Math.min(...rates), `healthy consumer per 500 ms: ${rates.join(",")}`).toBeGreaterThan(250);
    expect(s.sendBlockedMs, "the target's send() is not held up").toBeLessThan(500);
  }, 60_000);

  it("a connect end refused by a TS bind end (duplicate identity, then maxPeers) gets ERR_AIOMSG_REFUSED and backs off", async () => {
    const t = await target({ socket: { maxPeers: 2 }, read: "fast" });
    const identity = randomIdentity();
    const first = cleanup.socket(new Socket({ identity }));
    const up = new Promise<void>((r) => first.once("peerConnected", () => r()));
    await first.connect("127.0.0.1", t.port);
    await up;
    const twin = cleanup.socket(new Socket({ identity }));
    const refused: number[] = [];
    twin.on("error", (e) => {
      if (e.code === "ERR_AIOMSG_REFUSED") refused.push(Date.now());
    });
    await twin.connect("127.0.0.1", t.port);
    await waitFor(() => refused.length >= 4, 5000, "four refusals");
    const gaps = refused.slice(1).map((x, i) => x - refused[i]!);
    const s = await t.next((x) => (x.errors.ERR_AIOMSG_DUPLICATE_IDENTITY ?? 0) >= 4, 2000, "the target's four refusals");
    console.log(`[isolation] duplicate identity: refused at intervals ${gaps.join(",")} ms; target errors ${JSON.stringify(s.errors)}`);
    // 100 ms doubled each time: the gaps grow (with slack for timers), and the target saw as many attempts.
    expect(gaps[2]!, `gaps ${gaps.join(",")}`).toBeGreaterThan(gaps[0]! + 200);
    expect(s.errors.ERR_AIOMSG_DUPLICATE_IDENTITY ?? 0).toBeGreaterThanOrEqual(4);
    await twin.close({ linger: 0 });

    // maxPeers 2: a second peer fills it, a third is refused.
    const second = cleanup.socket(new Socket());
    const up2 = new Promise<void>((r) => second.once("peerConnected", () => r()));
    await second.connect("127.0.0.1", t.port);
    await up2;
    const third = cleanup.socket(new Socket());
    const refused3: string[] = [];
    third.on("error", (e) => refused3.push(e.code));
    await third.connect("127.0.0.1", t.port);
    await waitFor(() => refused3.includes("ERR_AIOMSG_REFUSED"), 5000, "the third peer refused");
    await t.next((x) => (x.errors.ERR_AIOMSG_MAX_PEERS ?? 0) >= 1, 5000, "the target's ERR_AIOMSG_MAX_PEERS");
  }, 30_000);

  it("a connect end refused by a real Python aiomsg bind end for its duplicate identity gets ERR_AIOMSG_REFUSED and backs off", async () => {
    const bind = await PyPeer.start(python, ["--role", "bind", "--port", "0"]);
    cleanup.add(() => bind.kill());
    const identity = randomIdentity();
    const first = cleanup.socket(new Socket({ identity }));
    const up = new Promise<void>((r) => first.once("peerConnected", () => r()));
    await first.connect("127.0.0.1", bind.port);
    await up;
    // Python leaves the refused connection open and silent: the twin's liveness finds it.
    const twin = cleanup.socket(new Socket({ identity, heartbeatInterval: 100, heartbeatTimeout: 300 }));
    const refused: number[] = [];
    twin.on("error", (e) => {
      if (e.code === "ERR_AIOMSG_REFUSED") refused.push(Date.now());
    });
    await twin.connect("127.0.0.1", bind.port);
    await waitFor(() => refused.length >= 4, 8000, "four refusals");
    const gaps = refused.slice(1).map((x, i) => x - refused[i]!);
    console.log(`[isolation] duplicate identity at a Python bind end: refused at intervals ${gaps.join(",")} ms`);
    expect(gaps[2]!, `gaps ${gaps.join(",")}`).toBeGreaterThan(gaps[0]! + 200);
  }, 30_000);
});

let pki: Pki | undefined;
async function pkiOnce(): Promise<Pki> {
  return (pki ??= await makePki());
}
