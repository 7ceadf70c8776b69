/**
 * recv, send and ping end to end: the built `aiomsg-ts` executable against real
 * Python aiomsg processes (2026.7.1 on the v1 wire, 2019.12.3 on the legacy wire).
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { freePort, Proc, Procs, provisionPython, readyPort, REPO_ROOT } from "./helpers.js";

const procs = new Procs();
afterEach(() => procs.killAll());
let pyV1: string;
let pyLegacy: string;
let pki: { ca: string; cert: string; key: string; serverName: string };
const PY_SEND = path.join(REPO_ROOT, "test", "cli", "py_send.py");

beforeAll(async () => {
  pyV1 = await provisionPython("v1");
  pyLegacy = await provisionPython("legacy");
  const tlsLib = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "tls.mjs")).href)) as {
    makeTestPki(): Promise<typeof pki>;
  };
  pki = await tlsLib.makeTestPki();
});

const listening = async (p: Proc): Promise<number> => Number((await p.waitErr(/listening on 127\.0\.0\.1:(\d+)/, 10_000))[1]);
const pyIdentity = async (p: Proc): Promise<string> => (await p.waitErr(/identity ([0-9a-f]{32})/, 20_000))[1]!;

describe("aiomsg-ts recv", () => {
  it("prints each message from a Python 2026.7.1 source on its own line and exits 0 after --count", async () => {
    const recv = procs.cli("recv", ["recv", "--bind", "127.0.0.1:0", "--count", "3"]);
    const port = await listening(recv);
    procs.py("py source", pyV1, ["--role", "connect", "--port", String(port), "--behavior", "source", "--count", "3", "--linger", "2"]);
    expect(await recv.waitExit(15_000)).toBe(0);
    expect(recv.out).toEqual(["m0", "m1", "m2"]);
  });

  it("--format hex --show-identity prefixes the sender's identity, over the legacy wire from a 2019.12.3 bind end", async () => {
    const id = "0123456789abcdef0123456789abcdef";
    const src = procs.py("py legacy source", pyLegacy, ["--role", "bind", "--port", "0", "--behavior", "source", "--count", "2",
      "--wait-peers", "1", "--identity", id, "--linger", "5"]);
    const port = await readyPort(src);
    const recv = procs.cli("recv", ["recv", "--connect", `tcp://127.0.0.1:${port}`, "--protocol", "legacy", "--count", "2",
      "--format", "hex", "--show-identity"]);
    expect(await recv.waitExit(15_000)).toBe(0);
    expect(recv.out).toEqual([`${id} ${Buffer.from("m0").toString("hex")}`, `${id} ${Buffer.from("m1").toString("hex")}`]);
  });

  it("--format json and msgpack print one compact JSON line per message; an undecodable one is reported and skipped", async () => {
    for (const [format, payloads, want] of [
      ["json", [Buffer.from('{ "a": [1, 2],\n "b": "x" }'), Buffer.from("not json"), Buffer.from("7")], ['{"a":[1,2],"b":"x"}', "7"]],
      ["msgpack", [Buffer.from("81a16101", "hex"), Buffer.from("92c3a26869", "hex")], ['{"a":1}', '[true,"hi"]']],
    ] as const) {
      const recv = procs.cli(`recv ${format}`, ["recv", "--bind", "127.0.0.1:0", "--count", String(want.length), "--format", format]);
      const port = await listening(recv);
      procs.add(new Proc("py send", pyV1, [PY_SEND, String(port), ...payloads.map((p) => p.toString("hex"))]));
      expect(await recv.waitExit(15_000)).toBe(0);
      expect(recv.out).toEqual(want);
      if (format === "json") expect(recv.err.some((l) => l.includes("message 2 (8 bytes) is not json"))).toBe(true);
    }
  });

  it("stops cleanly with exit 0 when its reader goes away (`| head -2`) while a Python source keeps sending", async () => {
    const recv = procs.cli("recv", ["recv", "--bind", "127.0.0.1:0", "-q"]);
    const port = await listening(recv);
    procs.py("py source", pyV1, ["--role", "connect", "--port", String(port), "--behavior", "source", "--count", "20000", "--linger", "30"]);
    await recv.waitOut((l) => l.length >= 2, 15_000, "2 lines");
    recv.child.stdout!.destroy();
    expect(await recv.waitExit(10_000)).toBe(0);
    expect(recv.err.join("\n")).not.toContain("EPIPE");
  });

  it("connects over TLS, verifying the Python bind end's certificate by name, and stops cleanly on SIGTERM (exit 0)", async () => {
    const src = procs.py("py tls source", pyV1, ["--role", "bind", "--port", "0", "--behavior", "source", "--count", "1",
      "--wait-peers", "1", "--linger", "30", "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]);
    const port = await readyPort(src);
    const recv = procs.cli("recv tls", ["recv", "--connect", `127.0.0.1:${port}`, "--tls-ca", pki.ca, "--tls-server-name", pki.serverName]);
    await recv.waitOut((l) => l.length === 1, 15_000, "the TLS message");
    expect(recv.out).toEqual(["m0"]);
    recv.kill("SIGTERM");
    expect(await recv.waitExit(10_000)).toBe(0);
  });

  it("--bind with --tls-ca requires client certificates (mutual TLS): a Python client with one gets through, a client without one is refused", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-cli-mtls-"));
    execFileSync("sh", [path.join(REPO_ROOT, "examples", "mutual-tls", "make-certs.sh"), dir]);
    const recv = procs.cli("recv mtls", ["recv", "--bind", "127.0.0.1:0", "--count", "3", "--tls-cert", path.join(dir, "server.pem"),
      "--tls-key", path.join(dir, "server.key"), "--tls-ca", path.join(dir, "ca.pem")]);
    const port = await listening(recv);
    const anon = procs.cli("send without a certificate", ["send", "--connect", `127.0.0.1:${port}`, "--tls-ca", path.join(dir, "ca.pem"),
      "--timeout", "1", "-q", "intruder"]);
    expect(await anon.waitExit(10_000)).toBe(1);
    procs.add(new Proc("py mtls client", pyV1, [path.join(REPO_ROOT, "examples", "mutual-tls", "client.py"), dir, String(port), "3"]));
    expect(await recv.waitExit(15_000)).toBe(0);
    expect(recv.out).toEqual([0, 1, 2].map((i) => `hello ${i} over mutual TLS`));
  });
});

describe("aiomsg-ts send", () => {
  it("sends its arguments to a Python sink and exits 0 once they are written", async () => {
    const sink = procs.py("py sink", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--count", "2"]);
    const port = await readyPort(sink);
    const send = procs.cli("send", ["send", "--connect", `127.0.0.1:${port}`, "hello", "wörld"]);
    expect(await send.waitExit(15_000)).toBe(0);
    expect(await sink.waitExit(15_000)).toBe(0);
    expect(sink.out).toEqual(["hello", "wörld"]);
  });

  it("sends stdin lines at-least-once to a 2019.12.3 sink and exits 0 once every one is acknowledged", async () => {
    const sink = procs.py("py legacy sink", pyLegacy, ["--role", "bind", "--port", "0", "--behavior", "sink", "--count", "3",
      "--delivery", "at-least-once"]);
    const port = await readyPort(sink);
    const send = procs.cli("send", ["send", "--connect", `127.0.0.1:${port}`, "--protocol", "legacy", "--at-least-once"], {
      stdin: "one\ntwo\nthree\n",
    });
    expect(await send.waitExit(15_000)).toBe(0);
    expect(send.err.some((l) => l.includes("acknowledged 3 messages"))).toBe(true);
    expect(await sink.waitExit(15_000)).toBe(0);
    expect(sink.out).toEqual(["one", "two", "three"]);
  });

  it("--bind --mode publish --peers 2 reaches both Python peers", async () => {
    const port = await freePort();
    const send = procs.cli("send", ["send", "--bind", `127.0.0.1:${port}`, "--mode", "publish", "--peers", "2", "a", "b"]);
    await listening(send);
    const sinks = [1, 2].map((i) =>
      procs.py(`py sink ${i}`, pyV1, ["--role", "connect", "--port", String(port), "--behavior", "sink", "--count", "2"]),
    );
    expect(await send.waitExit(15_000)).toBe(0);
    for (const s of sinks) {
      expect(await s.waitExit(15_000)).toBe(0);
      expect(s.out).toEqual(["a", "b"]);
    }
  });

  it("exits 1 with a clear message when nothing is delivered within --timeout", async () => {
    const port = await freePort();
    const started = Date.now();
    const send = procs.cli("send", ["send", "--connect", `127.0.0.1:${port}`, "--timeout", "1", "lost"]);
    expect(await send.waitExit(10_000)).toBe(1);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(send.err.at(-1)).toBe("aiomsg-ts send: timed out after 1 s: 1 of 1 messages not written (no peer connected; ERR_AIOMSG_CLOSE_LINGER)");
    // A refused connect is said once, not on every retry.
    expect(send.err.filter((l) => l.includes("ECONNREFUSED")).length).toBe(1);
  });
});

describe("aiomsg-ts ping", () => {
  it("prints a Python 2026.7.1 bind end's identity, dialect and round-trip time, exit 0", async () => {
    const peer = procs.py("py bind", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true"]);
    const id = await pyIdentity(peer);
    const port = await readyPort(peer);
    const ping = procs.cli("ping", ["ping", `127.0.0.1:${port}`, "--count", "2", "--interval", "0.1"]);
    expect(await ping.waitExit(10_000)).toBe(0);
    expect(ping.out).toHaveLength(2);
    for (const l of ping.out) expect(l).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port}: v1 peer ${id} rtt \\d+\\.\\d+ ms \\(tcp connect \\d+\\.\\d+ ms\\)$`));
  });

  it("--protocol auto recognises a 2019.12.3 bind end (legacy); --protocol v1 against it exits 1 and says which wire it speaks", async () => {
    const peer = procs.py("py legacy bind", pyLegacy, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true"]);
    const id = await pyIdentity(peer);
    const port = await readyPort(peer);
    const auto = procs.cli("ping auto", ["ping", `127.0.0.1:${port}`, "--protocol", "auto", "--json"]);
    expect(await auto.waitExit(10_000)).toBe(0);
    const r = JSON.parse(auto.out[0]!) as { dialect: string; identity: string; rttMs: number };
    expect(r.dialect).toBe("legacy");
    expect(r.identity).toBe(id);
    expect(r.rttMs).toBeGreaterThan(0);
    const wrong = procs.cli("ping v1", ["ping", `127.0.0.1:${port}`]);
    expect(await wrong.waitExit(10_000)).toBe(1);
    expect(wrong.err.join("\n")).toContain("it speaks the 2019 (legacy) wire; use --protocol legacy or auto");
  });

  it("over TLS to a Python bind end", async () => {
    const peer = procs.py("py tls bind", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true",
      "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]);
    const port = await readyPort(peer);
    const ping = procs.cli("ping tls", ["ping", `127.0.0.1:${port}`, "--tls-ca", pki.ca]);
    expect(await ping.waitExit(10_000)).toBe(0);
    expect(ping.out[0]).toMatch(/: v1 peer [0-9a-f]{32} rtt .* \(tcp\+tls connect/);
  });

  it("--protocol auto finds TS bind ends of every generation and reports their dialect and identity; --protocol early pings an early one", async () => {
    const id = "00112233445566778899aabbccddeeff";
    for (const [bindProtocol, pingProtocol, dialect] of [
      ["v1", "auto", "v1"], ["auto", "auto", "v1"], ["legacy", "auto", "legacy"], ["early", "auto", "early"], ["early", "early", "early"],
    ] as const) {
      const recv = procs.cli(`recv ${bindProtocol}`, ["recv", "--bind", "127.0.0.1:0", "--protocol", bindProtocol, "--identity", id]);
      const port = await listening(recv);
      const ping = procs.cli(`ping ${pingProtocol}`, ["ping", `127.0.0.1:${port}`, "--protocol", pingProtocol, "--json"]);
      expect(await ping.waitExit(10_000)).toBe(0);
      const r = JSON.parse(ping.out[0]!) as { dialect: string; identity: string };
      expect([bindProtocol, r.dialect, r.identity]).toEqual([bindProtocol, dialect, id]);
      recv.kill("SIGTERM");
      await recv.waitExit(10_000);
    }
  });

  it("exits 1 at once when refused, and within --timeout when a stopped peer never greets", async () => {
    const refused = procs.cli("ping refused", ["ping", `127.0.0.1:${await freePort()}`]);
    expect(await refused.waitExit(5_000)).toBe(1);
    expect(refused.err[0]).toMatch(/connection refused$/);

    const peer = procs.py("py bind", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true"]);
    const port = await readyPort(peer);
    peer.kill("SIGSTOP");
    try {
      const started = Date.now();
      const hung = procs.cli("ping hung", ["ping", `127.0.0.1:${port}`, "--timeout", "1"]);
      expect(await hung.waitExit(8_000)).toBe(1);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(hung.err[0]).toMatch(/ERR_AIOMSG_NOT_AIOMSG: connected, but no aiomsg greeting within 1 s of the probe's greeting: not an aiomsg bind end, or a stuck one$/);
    } finally {
      peer.kill("SIGCONT");
    }
  });
});

describe("usage", () => {
  it("every command has --help (exit 0); bad input exits 2 with a clear message", async () => {
    for (const cmd of ["recv", "send", "bridge", "ping", "agent"]) {
      const h = procs.cli(`${cmd} --help`, [cmd, "--help"]);
      expect(await h.waitExit(10_000)).toBe(0);
      expect(h.out[0]).toMatch(new RegExp(`^Usage: aiomsg-ts ${cmd}`));
    }
    const cases: Array<[string[], string]> = [
      [["ping", "ws://127.0.0.1:1"], "ping probes over raw TCP; a bind end serves WebSocket on the same port"],
      [["recv", "--bind", "ws://127.0.0.1:0"], "a bind end serves WebSocket clients on its own port already"],
      [["send", "--connect", "ws://127.0.0.1:1/", "--tls-ca", "/etc/hostname", "x"], "ws:// is plain WebSocket; use wss:// with TLS flags"],
      [["recv", "--connect", "ws://127.0.0.1:1/", "--protocol", "legacy"], "ws:// cannot carry the legacy wire"],
      [["recv", "--connect", "http://127.0.0.1:1/"], "unknown scheme http://"],
      [["recv"], "give --connect ADDR or --bind ADDR"],
      [["send", "--connect", "localhost", "x"], "expected host:port, tcp://host:port, ws://host:port/path or wss://host:port/path"],
      [["send", "--connect", "127.0.0.1:1", "--mode", "publish", "--at-least-once"], "cannot be combined"],
      [["recv", "--bind", "127.0.0.1:0", "--format", "xml"], "--format must be one of text, hex, json, msgpack"],
      [["recv", "--bind", "127.0.0.1:0", "--protocol", "v2"], "--protocol must be one of v1, legacy, early, auto"],
      [["recv", "--bind", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"], "--tls-ca /nonexistent.pem: ENOENT".replace("ca", "cert")],
      [["bridge", "--from", "127.0.0.1:1"], "give exactly one of --to ADDR (connect) or --to-bind ADDR (listen)"],
      [["frobnicate"], 'unknown command "frobnicate"'],
    ];
    for (const [args, message] of cases) {
      const p = procs.cli(args.join(" "), args);
      expect(await p.waitExit(10_000), args.join(" ")).toBe(2);
      expect(p.err.join("\n"), args.join(" ")).toContain(message);
    }
  });
});
