// Python aiomsg's API where it is wider than ZeroMQ-style sockets, proved
// against real Python processes (interop/python/agent.py on PyPI releases):
// publish + at-least-once in both directions, and per-send retries, ours
// against a release that never acknowledges and Python's into a TS sink.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import * as path from "node:path";
import { Socket } from "../../packages/core/src/index.js";
import { Proc, Procs, REPO_ROOT, provisionPython, readyPort, waitFor } from "../../test/cli/helpers.js";
import { provisionRelease } from "../lib/python.mjs";

const AGENT = path.join(REPO_ROOT, "interop", "python", "agent.py");
/** A release with no at-least-once (a REQ reaches its application, header and all, and is never acknowledged). */
const NO_ACK_RELEASE = "2019.4.1";

let pyV1 = "";
let pyNoAck = "";
const procs = new Procs();
const sockets: Socket[] = [];

beforeAll(async () => {
  pyV1 = await provisionPython("v1");
  const r = (await provisionRelease(NO_ACK_RELEASE)) as { ok: boolean; python?: string; error?: string };
  if (!r.ok) throw new Error(`aiomsg==${NO_ACK_RELEASE} did not install: ${r.error}`);
  pyNoAck = r.python!;
}, 600_000);

afterEach(async () => {
  await procs.killAll();
  for (const s of sockets.splice(0)) await s.close({ linger: 0 });
});

function sock(opts: ConstructorParameters<typeof Socket>[0]): Socket {
  const s = new Socket(opts);
  s.on("error", () => undefined);
  sockets.push(s);
  return s;
}

function py(label: string, python: string, args: string[]): Proc {
  return procs.add(new Proc(label, python, [AGENT, ...args]));
}

describe("publish + at-least-once against Python aiomsg 2026.7.1", () => {
  it("a TS publish + at-least-once bind end: two Python sinks each get the published message and their own message by identity, and acknowledge the latter (nothing pending, nothing resent, nothing dropped)", async () => {
    const server = sock({ sendMode: "publish", deliveryGuarantee: "at-least-once" });
    await server.bind("127.0.0.1", 0);
    const sinks = [0, 1].map((i) =>
      py(`py sink ${i}`, pyV1, ["--role", "connect", "--port", String(server.port), "--behavior", "sink", "--count", "2", "--delivery", "at-least-once"]),
    );
    await waitFor(() => server.peerCount === 2, 20_000, "both Python sinks connected");
    await server.send("to-everyone");
    const [a, b] = server.peerIdentities;
    await server.send("just-a", { identity: a! });
    await server.send("just-b", { identity: b! });
    for (const s of sinks) expect(await s.waitExit(20_000), s.describe()).toBe(0);
    const outs = sinks.map((s) => s.out.join(","));
    expect(outs.sort()).toEqual(["to-everyone,just-a", "to-everyone,just-b"]);
    await waitFor(() => server.stats().unacknowledged === 0, 10_000, "both requests acknowledged");
    const st = server.stats();
    expect([st.resends, st.dropped]).toEqual([0, {}]);
  });

  it("a Python publish + at-least-once bind end: its published messages (DATA) and its replies by identity (DATA_REQ) each reach a TS socket once", async () => {
    const pub = py("py publish source", pyV1, ["--role", "bind", "--port", "0", "--behavior", "source", "--send-mode", "publish",
      "--delivery", "at-least-once", "--count", "3", "--prefix", "pub", "--wait-peers", "1", "--linger", "30"]);
    const echo = py("py publish echo", pyV1, ["--role", "bind", "--port", "0", "--behavior", "echo", "--send-mode", "publish",
      "--delivery", "at-least-once", "--count", "2", "--linger", "30"]);
    const [pubPort, echoPort] = [await readyPort(pub), await readyPort(echo)];
    const c = sock({ deliveryGuarantee: "at-least-once" });
    const got: string[] = [];
    void (async () => {
      for await (const m of c.messages()) got.push(m.toString());
    })();
    await c.connect("127.0.0.1", pubPort);
    await c.connect("127.0.0.1", echoPort);
    await waitFor(() => c.peerCount === 2, 20_000, "both Python bind ends connected");
    // To the echo end by identity (our at-least-once request, which it acknowledges).
    const echoPeer = c.stats().peers.find((p) => p.remote.endsWith(`:${echoPort}`))!;
    for (const q of ["q0", "q1"]) await c.send(q, { identity: Buffer.from(echoPeer.identity, "hex") });
    await waitFor(() => got.length >= 5, 20_000, `3 published and 2 echoed messages (got ${got.join(",")})`);
    expect(got.filter((m) => m.startsWith("pub")).sort()).toEqual(["pub0", "pub1", "pub2"]);
    expect(got.filter((m) => m.startsWith("q")).sort()).toEqual(["q0", "q1"]);
    await waitFor(() => c.stats().unacknowledged === 0, 10_000, "our requests acknowledged by the Python echo");
    expect(echo.err.some((l) => l.startsWith("EVENT echoed 2")), echo.describe()).toBe(true);
  });
});

describe("per-send retries against real Python", () => {
  it(`send({ retries: 2 }) to a Python ${NO_ACK_RELEASE} sink, which never acknowledges: the message goes out 3 times, then is reported dropped (ERR_AIOMSG_RETRIES_EXHAUSTED)`, async () => {
    const sink = py("py no-ack sink", pyNoAck, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true"]);
    const port = await readyPort(sink);
    const c = sock({ protocol: "auto", deliveryGuarantee: "at-least-once", resendInterval: 100, maxResends: 100 });
    const up = once(c, "peerConnected");
    await c.connect("127.0.0.1", port);
    const [info] = await up;
    expect(info.protocol).toBe("early");
    const dropped = once(c, "dropped");
    await c.send("needs-an-ack", { retries: 2 });
    const [d] = await dropped;
    expect([d.code, d.payload.toString()]).toEqual(["ERR_AIOMSG_RETRIES_EXHAUSTED", "needs-an-ack"]);
    // Each copy reached the 2019.4.1 application with the 21-byte REQ header in front.
    await sink.waitOut((l) => l.filter((x) => x.endsWith("needs-an-ack")).length >= 3, 10_000, "three copies");
    expect(sink.out.filter((x) => x.endsWith("needs-an-ack"))).toHaveLength(3);
  });

  it("Python send(..., retries=2) at-least-once into a TS sink: every message arrives once and is acknowledged", async () => {
    const server = sock({ deliveryGuarantee: "at-least-once" });
    await server.bind("127.0.0.1", 0);
    const src = py("py source retries", pyV1, ["--role", "connect", "--port", String(server.port), "--behavior", "source",
      "--delivery", "at-least-once", "--retries", "2", "--count", "5", "--linger", "1"]);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await server.recv()).toString());
    expect(got).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await src.waitExit(20_000), src.describe()).toBe(0);
    expect(server.stats().messagesIn).toBe(5);
  });
});
