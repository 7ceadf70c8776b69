// The early wire against a real early release (aiomsg 2019.5.0 from PyPI, its
// own venv from lib/python.mjs): a TS end with protocol "early" and with
// "auto", in both roles, exchanges messages with the Python end, each end
// sees the other's identity (the TS end's 16 bytes as its UUID text on the
// Python side, the Python end's UUID text as its 16 bytes here), and sends by
// identity reach their peer both ways.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Agent, Env, flags, freePort } from "../lib/harness.mjs";
import { provisionRelease } from "../lib/python.mjs";

const EARLY = "2019.5.0";
const PY = `py@${EARLY}`;
const N = 5;
const TS_ID = "0123456789abcdef0123456789abcdef";
const TS_ID_TEXT = "01234567-89ab-cdef-0123-456789abcdef";
const seq = (prefix: string, n = N): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

let env: Env;
const agents: Agent[] = [];
beforeAll(async () => {
  const r = await provisionRelease(EARLY);
  if (!r.ok) throw new Error(`aiomsg ${EARLY} did not install: ${r.error}`);
  env = new Env();
}, 600_000);
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.kill()));
});

function start(name: string, kind: string, args: Record<string, string | number | undefined>): Agent {
  const a = new Agent(env, name, kind, flags(args));
  agents.push(a);
  return a;
}

/** The identity a Python agent announces in its first log line (an early release's is UUID text). */
async function pyIdentity(a: Agent): Promise<string> {
  const re = /agent\.py aiomsg \S+ identity (\S+) /;
  await a.waitFor((x: Agent) => x.stderr.some((l: string) => re.test(l)), { timeoutMs: 20_000, what: "the Python identity line" });
  return re.exec(a.stderr.find((l: string) => re.test(l))!)![1]!;
}

const peerEvent = (a: Agent): string[] => a.eventsNamed("peer-connected")[0]!.args;

describe(`interop: aiomsg-ts early and auto against aiomsg ${EARLY}`, () => {
  for (const protocol of ["early", "auto"]) {
    it(`ts ${protocol} connect source -> py ${EARLY} bind sink: every message, the TS identity seen as its UUID text`, async () => {
      const py = start("py-sink", PY, { role: "bind", port: 0, behavior: "sink", count: N });
      const port = Number((await py.waitReady({ timeoutMs: 20_000 })).args[0]);
      const ts = start("ts-source", "ts", { role: "connect", port, behavior: "source", count: N, protocol, identity: TS_ID, linger: 2 });
      await py.waitLines(N, { timeoutMs: 20_000 });
      expect(py.lines).toEqual(seq("m"));
      expect(py.eventsNamed("peer-connected")[0]!.args[0]).toBe(TS_ID_TEXT);
      await ts.waitEvent("peer-connected", { timeoutMs: 5_000 });
      expect(peerEvent(ts)[1]).toBe("early");
    }, 40_000);

    it(`py ${EARLY} connect source -> ts ${protocol} bind sink: every message, the Python UUID text identity seen as its 16 bytes`, async () => {
      const port = await freePort();
      const ts = start("ts-sink", "ts", { role: "bind", port, behavior: "sink", count: N, protocol });
      await ts.waitReady({ timeoutMs: 20_000 });
      const py = start("py-source", PY, { role: "connect", port, behavior: "source", count: N, linger: 2 });
      const pyId = await pyIdentity(py);
      await ts.waitLines(N, { timeoutMs: 20_000 });
      expect(ts.lines).toEqual(seq("m"));
      expect(peerEvent(ts)).toEqual([pyId.replace(/-/g, ""), "early"]);
    }, 40_000);

    it(`py ${EARLY} bind echo answers a ts ${protocol} requester by identity`, async () => {
      const py = start("py-echo", PY, { role: "bind", port: 0, behavior: "echo", count: N, linger: 2 });
      const port = Number((await py.waitReady({ timeoutMs: 20_000 })).args[0]);
      const ts = start("ts-requester", "ts", { role: "connect", port, behavior: "request", count: N, prefix: "r", protocol, identity: TS_ID });
      await ts.waitLines(N, { timeoutMs: 20_000 });
      expect(ts.lines).toEqual(seq("r"));
    }, 40_000);

    it(`ts ${protocol} bind echo answers a py ${EARLY} requester by identity`, async () => {
      const port = await freePort();
      const ts = start("ts-echo", "ts", { role: "bind", port, behavior: "echo", count: N, protocol, linger: 2 });
      await ts.waitReady({ timeoutMs: 20_000 });
      const py = start("py-requester", PY, { role: "connect", port, behavior: "request", count: N, prefix: "q" });
      await py.waitLines(N, { timeoutMs: 20_000 });
      expect(py.lines).toEqual(seq("q"));
    }, 40_000);
  }

  it(`at-least-once both ways between a ts auto bind end and a py ${EARLY} connect end`, async () => {
    const port = await freePort();
    const ts = start("ts-echo", "ts", { role: "bind", port, behavior: "echo", count: N, protocol: "auto", delivery: "at-least-once", linger: 2 });
    await ts.waitReady({ timeoutMs: 20_000 });
    const py = start("py-requester", PY, { role: "connect", port, behavior: "request", count: N, prefix: "a", delivery: "at-least-once" });
    await py.waitLines(N, { timeoutMs: 20_000 });
    expect(new Set(py.lines)).toEqual(new Set(seq("a")));
  }, 40_000);
});
