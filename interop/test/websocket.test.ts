// The Node WebSocket connect end (ws:// and wss://) against bind ends in other
// processes: real Python aiomsg 2026.7.1 (interop/python/agent.py, which serves
// WebSocket and, with TLS, wss:// on its own port) and the TS agent
// (`aiomsg-ts agent`), both driven by the conformance CLI contract (docs/protocol.md). The
// connect end is an in-process Socket; wss:// verifies the bind end's
// certificate, issued for localhost by a throwaway CA.
//
// Each scenario runs for both schemes against both kinds of bind end: both
// directions and by identity, round-robin and publish from the connect end to
// three binds, both modes from a bind end to two connect ends, at-least-once
// both ways, and a bind end SIGKILLed and restarted on the same port while
// at-least-once messages are in flight.
//
// The TS agent imports packages/core/dist: the root `pnpm test` builds first.
import { readFile, rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Socket, type PeerInfo, type SocketOptions } from "../../packages/core/src/index.js";
import { makePki, type Pki } from "../../test/reliability/helpers.js";
import { Agent, Env } from "../lib/harness.mjs";
import { provisionPython } from "../lib/python.mjs";

type Scheme = "ws" | "wss";
type BindKind = "py:v1" | "ts";

const BIND_KINDS: Array<[string, BindKind]> = [
  ["Python aiomsg 2026.7.1", "py:v1"],
  ["aiomsg-ts", "ts"],
];
const SCHEMES: Scheme[] = ["ws", "wss"];

let env: Env;
let pki: Pki;
let ca: Buffer;

beforeAll(async () => {
  await provisionPython("v1");
  pki = await makePki();
  ca = await readFile(pki.ca);
  env = new Env({});
}, 600_000);

afterAll(async () => {
  if (pki) await rm(pki.dir, { recursive: true, force: true });
});

const seq = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const hexId = (i: number): string => `${"a0".repeat(15)}${i.toString(16).padStart(2, "0")}`;

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What one scenario started; `end()` kills and closes all of it, whatever happened. */
class Scope {
  readonly agents: Agent[] = [];
  readonly sockets: Socket[] = [];

  constructor(
    readonly scheme: Scheme,
    readonly kind: BindKind,
  ) {}

  /**
   * A bind end in its own process, on `port` (by default port 0: the agent
   * binds any free port and reports it, so no port is picked ahead and raced
   * for); resolves once it listens.
   */
  async bind(name: string, args: Record<string, string | number>, port = 0): Promise<{ agent: Agent; port: number }> {
    const argv = ["--role", "bind", "--port", String(port)];
    for (const [k, v] of Object.entries(args)) argv.push(`--${k}`, String(v));
    if (this.scheme === "wss") argv.push("--tls", "true", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey);
    const agent = new Agent(env, name, this.kind, argv);
    this.agents.push(agent);
    const ready = await agent.waitReady({ timeoutMs: 20_000 });
    return { agent, port: Number(ready.args[0]) };
  }

  /** An in-process connect end; `connect()` dials each port by URL. */
  socket(opts: SocketOptions = {}): Socket & { infos: PeerInfo[] } {
    const s = Object.assign(new Socket({ reconnectionDelay: 50, ...opts }), { infos: [] as PeerInfo[] });
    s.on("peerConnected", (i) => s.infos.push(i));
    this.sockets.push(s);
    return s;
  }

  url(port: number): string {
    return `${this.scheme}://localhost:${port}/aiomsg`;
  }

  async connect(s: Socket, port: number): Promise<void> {
    await s.connect(this.url(port), this.scheme === "wss" ? { tls: { ca } } : {});
  }

  /** Every agent's output, for a failure message. */
  describe(): string {
    return this.agents.map((a) => a.describe()).join("\n");
  }

  async end(): Promise<void> {
    await Promise.all(this.sockets.map((s) => s.close({ linger: 0 })));
    await Promise.all(this.agents.map((a) => a.kill()));
  }
}

async function scenario(scheme: Scheme, kind: BindKind, fn: (sc: Scope) => Promise<void>): Promise<void> {
  const sc = new Scope(scheme, kind);
  try {
    await fn(sc);
  } catch (err) {
    (err as Error).message += `\n${sc.describe()}`;
    throw err;
  } finally {
    await sc.end();
  }
}

/** Collects [identity hex, text] of every message a socket receives. */
function inbox(s: Socket): Array<[string, string]> {
  const got: Array<[string, string]> = [];
  // A failure shows as missing messages in the scenario's own assertion.
  (async () => {
    for await (const [id, payload] of s.identityMessages()) got.push([id.toString("hex"), payload.toString()]);
  })().catch(() => undefined);
  return got;
}

for (const [label, kind] of BIND_KINDS) {
  describe.concurrent(`WebSocket connect end against ${label} bind ends`, () => {
    for (const scheme of SCHEMES) {
      it(`${scheme}://: both directions and by identity: each of two echo binds returns exactly what was sent to it, in order`, async () => {
        await scenario(scheme, kind, async (sc) => {
          const N = 50;
          const a = await sc.bind("echo-a", { behavior: "echo", count: N, linger: 30, identity: hexId(1) });
          const b = await sc.bind("echo-b", { behavior: "echo", count: N, linger: 30, identity: hexId(2) });
          const s = sc.socket();
          const got = inbox(s);
          await sc.connect(s, a.port);
          await sc.connect(s, b.port);
          await waitFor(() => s.peerCount === 2, 10_000, "both binds connected");
          expect(s.infos.map((i) => `${i.protocol}/${i.transport}/${i.direction}`)).toEqual([`v1/${scheme}/connect`, `v1/${scheme}/connect`]);
          const idA = Buffer.from(hexId(1), "hex");
          const idB = Buffer.from(hexId(2), "hex");
          for (let i = 0; i < N; i++) {
            await s.send(`a${i}`, { identity: idA });
            await s.send(`b${i}`, { identity: idB });
          }
          await waitFor(() => got.length >= 2 * N, 15_000, `${2 * N} echoes (have ${got.length})`);
          expect(got.filter(([id]) => id === hexId(1)).map(([, t]) => t)).toEqual(seq("a", N));
          expect(got.filter(([id]) => id === hexId(2)).map(([, t]) => t)).toEqual(seq("b", N));
          expect(got.length).toBe(2 * N);
        });
      });

      it(`${scheme}://: round-robin from the connect end gives three binds 10 of 30 each, in order; publish gives each all 30`, async () => {
        await scenario(scheme, kind, async (sc) => {
          const binds = [];
          for (let i = 0; i < 3; i++) binds.push(await sc.bind(`sink-${i}`, { behavior: "sink", forever: "true" }));
          const rr = sc.socket({ sendMode: "roundrobin" });
          for (const b of binds) await sc.connect(rr, b.port);
          await waitFor(() => rr.peerCount === 3, 10_000, "3 binds connected (round-robin)");
          for (const m of seq("r", 30)) await rr.send(m);
          await waitFor(() => binds.every((b) => b.agent.lines.length >= 10), 15_000, "10 lines at each sink");
          const shares = binds.map((b) => b.agent.lines.map((l: string) => Number(l.slice(1))));
          for (const share of shares) {
            expect(share.length).toBe(10);
            expect([...share].sort((x, y) => x - y)).toEqual(share);
          }
          expect(shares.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));

          const pub = sc.socket({ sendMode: "publish" });
          for (const b of binds) await sc.connect(pub, b.port);
          await waitFor(() => pub.peerCount === 3, 10_000, "3 binds connected (publish)");
          for (const m of seq("p", 30)) await pub.send(m);
          await waitFor(() => binds.every((b) => b.agent.lines.length >= 40), 15_000, "30 published lines at each sink");
          for (const b of binds) expect(b.agent.lines.slice(10)).toEqual(seq("p", 30));
        });
      });

      it(`${scheme}://: from a bind end to two connect ends: publish reaches both with all 40, round-robin splits 40 into 20 + 20`, async () => {
        await scenario(scheme, kind, async (sc) => {
          for (const mode of ["publish", "roundrobin"] as const) {
            const src = await sc.bind(`source-${mode}`, { behavior: "source", "send-mode": mode, count: 40, "wait-peers": 2, prefix: mode[0]!, linger: 30 });
            const c1 = sc.socket();
            const c2 = sc.socket();
            const got = [inbox(c1), inbox(c2)];
            await sc.connect(c1, src.port);
            await sc.connect(c2, src.port);
            const want = mode === "publish" ? 40 : 20;
            await waitFor(() => got.every((g) => g.length >= want), 15_000, `${want} messages at each connect end (${mode})`);
            const texts = got.map((g) => g.map(([, t]) => t));
            if (mode === "publish") {
              for (const t of texts) expect(t).toEqual(seq("p", 40));
            } else {
              for (const t of texts) {
                expect(t.length).toBe(20);
                const n = t.map((x) => Number(x.slice(1)));
                expect([...n].sort((x, y) => x - y)).toEqual(n);
              }
              expect(texts.flat().sort()).toEqual(seq("r", 40).sort());
            }
            await c1.close({ linger: 0 });
            await c2.close({ linger: 0 });
          }
        });
      });

      it(`${scheme}://: at-least-once both ways: 200 from the connect end all acknowledged (nothing dropped at close), 200 from the bind end all received`, async () => {
        await scenario(scheme, kind, async (sc) => {
          const sink = await sc.bind("sink", { behavior: "sink", forever: "true", delivery: "at-least-once" });
          const s = sc.socket({ deliveryGuarantee: "at-least-once", resendInterval: 1000 });
          const dropped: unknown[] = [];
          s.on("dropped", (d) => dropped.push(d));
          await sc.connect(s, sink.port);
          for (const m of seq("a", 200)) await s.send(m);
          await waitFor(() => sink.agent.lines.length >= 200, 15_000, "200 lines at the sink");
          expect([...new Set(sink.agent.lines)]).toEqual(seq("a", 200));
          await s.close({ linger: 5000 });
          expect(dropped).toEqual([]);

          const src = await sc.bind("source", { behavior: "source", count: 200, "wait-peers": 1, delivery: "at-least-once", linger: 30 });
          const r = sc.socket({ deliveryGuarantee: "at-least-once" });
          const got = inbox(r);
          await sc.connect(r, src.port);
          await waitFor(() => got.length >= 200, 15_000, `200 messages from the bind end (have ${got.length})`);
          expect([...new Set(got.map(([, t]) => t))]).toEqual(seq("m", 200));
        });
      });

      it(`${scheme}://: a bind end SIGKILLed mid-stream and restarted on the same port: the connect end reconnects and every at-least-once message arrives`, async () => {
        await scenario(scheme, kind, async (sc) => {
          const N = 60;
          const first = await sc.bind("sink-1", { behavior: "sink", forever: "true", delivery: "at-least-once" });
          const s = sc.socket({ deliveryGuarantee: "at-least-once", resendInterval: 300, maxResends: 50 });
          const dropped: unknown[] = [];
          s.on("dropped", (d) => dropped.push(d));
          await sc.connect(s, first.port);
          // Paced, so that the kill falls mid-stream: some acknowledged, some not yet.
          const paced = (async () => {
            for (const m of seq("x", N / 2)) {
              await s.send(m);
              await new Promise((r) => setTimeout(r, 5));
            }
          })();
          await waitFor(() => first.agent.lines.length >= 20, 10_000, "the first bind end receiving");
          await first.agent.kill();
          await paced;
          // Sent while the bind end is dead or not yet back: buffered or resent.
          for (const m of seq("x", N).slice(N / 2)) await s.send(m);
          const second = await sc.bind("sink-2", { behavior: "sink", forever: "true", delivery: "at-least-once" }, first.port);
          const all = (): Set<string> => new Set([...first.agent.lines, ...second.agent.lines]);
          await waitFor(() => all().size >= N, 20_000, `all ${N} messages across both bind ends (have ${all().size})`);
          expect([...all()].sort()).toEqual(seq("x", N).sort());
          expect(second.agent.lines).toContain(`x${N - 1}`);
          expect(s.infos.length).toBeGreaterThanOrEqual(2);
          expect(s.infos.every((i) => i.transport === scheme)).toBe(true);
          await s.close({ linger: 5000 });
          expect(dropped).toEqual([]);
          const total = first.agent.lines.length + second.agent.lines.length;
          console.log(`restart ${kind} ${scheme}: ${first.agent.lines.length} received before the kill, ${second.agent.lines.length} after the restart, ${total - N} duplicates, ${s.infos.length} connections`);
        });
      });
    }
  });
}
