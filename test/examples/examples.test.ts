/**
 * Every cookbook recipe in examples/ runs here as its own processes: the
 * compiled TypeScript programs (examples/dist, built by `pnpm build`) with
 * their Python counterparts on real aiomsg (2026.7.1, and 2019.12.3 for the
 * migration recipe).
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, Proc, Procs, provisionPython, REPO_ROOT } from "../cli/helpers.js";

const EX = path.join(REPO_ROOT, "examples");
const procs = new Procs();
afterEach(() => procs.killAll());
let pyV1: string;
let pyLegacy: string;
beforeAll(async () => {
  pyV1 = await provisionPython("v1");
  pyLegacy = await provisionPython("legacy");
});

const ts = (label: string, script: string, args: Array<string | number>): Proc =>
  procs.add(new Proc(label, process.execPath, [path.join(EX, "dist", script), ...args.map(String)]));
const py = (label: string, python: string, script: string, args: Array<string | number>): Proc =>
  procs.add(new Proc(label, python, [path.join(EX, script), ...args.map(String)]));
const seq = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe("cookbook (examples/)", () => {
  it("work-pool: a TS producer round-robins 12 jobs over 3 Python workers, 4 each, all acknowledged", async () => {
    const port = await freePort();
    const producer = ts("producer", "work-pool/producer.js", [port, 12, 3]);
    await producer.waitOut((l) => l.some((x) => x.startsWith("producer: waiting")), 10_000, "the producer to listen");
    const workers = ["w1", "w2", "w3"].map((w) => py(w, pyV1, "work-pool/worker.py", [w, port]));
    expect(await producer.waitExit(20_000)).toBe(0);
    expect(producer.out.at(-1)).toBe("producer: all 12 jobs acknowledged");
    for (const w of workers) await w.waitOut((l) => l.length === 4, 10_000, "4 jobs");
    const all = workers.flatMap((w) => w.out.map((l) => l.split(" ")[1]!));
    expect(all.sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))).toEqual(seq("job-", 12));
  });

  it("fan-in: one TS socket connects to 2 Python producers and gets both streams, each in order", async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    py("producer a", pyV1, "fan-in/producer.py", ["a", p1, 5]);
    py("producer b", pyV1, "fan-in/producer.py", ["b", p2, 5]);
    const collector = ts("collector", "fan-in/collector.js", [10, p1, p2]);
    expect(await collector.waitExit(20_000)).toBe(0);
    const from = (name: string): string[] => collector.out.map((l) => l.split(" ")[1]!).filter((m) => m.startsWith(`${name}-`));
    expect(from("a")).toEqual(seq("a-", 5));
    expect(from("b")).toEqual(seq("b-", 5));
    // Each producer's lines carry one sender identity, and the two differ.
    const ids = (name: string): Set<string> => new Set(collector.out.filter((l) => l.includes(` ${name}-`)).map((l) => l.split(" ")[0]!));
    expect(ids("a").size).toBe(1);
    expect(ids("b").size).toBe(1);
    expect([...ids("a")][0]).not.toBe([...ids("b")][0]);
  });

  it("pubsub: a TS publisher's 5 JSON ticks reach both Python subscribers", async () => {
    const port = await freePort();
    const publisher = ts("publisher", "pubsub/publisher.js", [port, 2, 5]);
    const subs = ["s1", "s2"].map((s) => py(s, pyV1, "pubsub/subscriber.py", [s, port, 5]));
    expect(await publisher.waitExit(20_000)).toBe(0);
    for (const [i, s] of subs.entries()) {
      expect(await s.waitExit(10_000)).toBe(0);
      expect(s.out).toEqual(Array.from({ length: 5 }, (_, k) => `s${i + 1} seq=${k} price=${100 + k}`));
    }
  });

  it("request-reply: a TS server answers 2 Python clients by identity, each gets only its own replies", async () => {
    const port = await freePort();
    const server = ts("server", "request-reply/server.js", [port]);
    await server.waitOut((l) => l.includes(`server: listening on ${port}`), 10_000, "the server");
    const clients = ["alice", "bob"].map((c) => py(c, pyV1, "request-reply/client.py", [c, port, 3]));
    for (const c of clients) expect(await c.waitExit(15_000)).toBe(0);
    for (const [i, c] of clients.entries()) {
      const name = ["alice", "bob"][i]!;
      const id = c.out[0]!.split(" ")[2]!;
      expect(c.out.slice(1)).toEqual([0, 1, 2].map((k) => `${name} got ${name.toUpperCase()} REQUEST ${k} (for ${id})`));
    }
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000)).toBe(0);
  });

  it("token-gate: a Python client with a wrong token is refused and never gets the buffered news; the right one gets it, and re-authenticates after the server restarts", async () => {
    const port = await freePort();
    const server = ts("server", "token-gate/server.js", [port, "right", 3]);
    await server.waitOut((l) => l.includes(`server: listening on ${port}`), 10_000, "the server");
    const wrong = py("wrong client", pyV1, "token-gate/client.py", ["wrong", port, 4, 15]);
    expect(await wrong.waitExit(20_000)).toBe(1);
    // Asked for its token on each of its connections, refused each time, and given nothing else.
    expect(wrong.out).toEqual(["client: refused (asked for the token 3 times in a row)"]);
    expect(server.out.filter((l) => l.startsWith("server: refused")).length).toBeGreaterThanOrEqual(3);

    const right = py("right client", pyV1, "token-gate/client.py", ["right", port, 7, 30]);
    await right.waitOut((l) => l.length >= 4, 15_000, "the news and the echo");
    expect(right.out).toEqual(["news 0", "news 1", "news 2", "echo hello"]);
    // A new server on the same port: the client reconnects, is asked again, answers, and gets the new server's news.
    server.kill("SIGTERM");
    expect(await server.waitExit(10_000)).toBe(0);
    const again = ts("server again", "token-gate/server.js", [port, "right", 3]);
    expect(await right.waitExit(20_000)).toBe(0);
    expect(right.out.slice(4)).toEqual(["news 0", "news 1", "news 2"]);
    await again.waitOut((l) => l.some((x) => x.startsWith("server: admitted")), 10_000, "the re-admission");
  });

  it("proxy: 2 TS proxies (each binds for workers and connects upstream) split 10 Python jobs between their Python workers", async () => {
    const up = await freePort();
    const downs = [await freePort(), await freePort()];
    const jobs = py("jobs", pyV1, "proxy/jobs.py", [up, 10, 2]);
    const proxies = downs.map((d, i) => ts(`proxy ${i}`, "proxy/proxy.js", [up, d]));
    const workers = downs.map((d, i) => py(`worker ${i}`, pyV1, "work-pool/worker.py", [`w${i}`, d]));
    for (const p of proxies) await p.waitOut((l) => l.some((x) => x.startsWith("proxy: ")), 15_000, "the proxy to connect upstream");
    await jobs.waitOut((l) => l.includes("jobs: sent 10"), 15_000, "the jobs to be sent");
    await waitAll(workers, 10);
    const got = workers.map((w) => w.out.map((l) => l.split(" ")[1]!));
    // The source round-robins over the two proxies: 5 each, and each proxy's share in order.
    expect(got.map((g) => g.length)).toEqual([5, 5]);
    expect([...got[0]!, ...got[1]!].sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))).toEqual(seq("job-", 10));
    for (const g of got) expect(g).toEqual([...g].sort((a, b) => Number(a.slice(4)) - Number(b.slice(4))));
  });

  it("mutual-tls: a Python client with a CA-signed certificate gets through; a client without one is refused", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-cookbook-certs-"));
    execFileSync("sh", [path.join(EX, "mutual-tls", "make-certs.sh"), dir]);
    const port = await freePort();
    const server = ts("server", "mutual-tls/server.js", [dir, port, 3]);
    await server.waitOut((l) => l.includes(`server: mutual TLS on ${port}`), 10_000, "the server");
    // No client certificate: the TLS handshake is refused, nothing is delivered, the CLI gives up (exit 1).
    const anon = procs.cli("send without a client certificate", ["send", "--connect", `127.0.0.1:${port}`, "--tls-ca", path.join(dir, "ca.pem"),
      "--timeout", "1", "--quiet", "intruder"]);
    expect(await anon.waitExit(10_000)).toBe(1);
    await server.waitOut((l) => l.some((x) => x.startsWith("server: refused a connection")), 10_000, "the refusal");
    py("client", pyV1, "mutual-tls/client.py", [dir, port, 3]);
    expect(await server.waitExit(15_000)).toBe(0);
    expect(server.out.filter((l) => l.startsWith("server: hello"))).toEqual([0, 1, 2].map((i) => `server: hello ${i} over mutual TLS`));
    expect(server.out.join("\n")).not.toContain("intruder");
  });

  it("migrate-2019: through a TS auto bridge, a 2019.12.3 service's requests are answered by a 2026.7.1 service", async () => {
    const port = await freePort();
    const bridge = ts("bridge", "migrate-2019/bridge.js", [port]);
    await bridge.waitOut((l) => l.includes(`bridge: listening on ${port}`), 10_000, "the bridge");
    py("new service", pyV1, "migrate-2019/new_service.py", [port]);
    await bridge.waitOut((l) => l.some((x) => x.endsWith("speaks v1")), 15_000, "the 2026 service");
    const old = py("old service", pyLegacy, "migrate-2019/old_service.py", [port, 3]);
    expect(await old.waitExit(15_000)).toBe(0);
    expect(old.out).toEqual([0, 1, 2].map((i) => `old service got: new service answers old-${i}`));
    expect(bridge.out.some((x) => x.endsWith("speaks legacy"))).toBe(true);
    bridge.kill("SIGTERM");
    expect(await bridge.waitExit(10_000)).toBe(0);
  });
});

async function waitAll(workers: Proc[], total: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (workers.reduce((n, w) => n + w.out.length, 0) < total) {
    if (Date.now() > deadline) throw new Error(`workers got ${workers.map((w) => w.out.length)} of ${total}\n${workers.map((w) => w.describe()).join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
