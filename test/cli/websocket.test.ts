/**
 * ws:// and wss:// ADDRs on the command line: the built `aiomsg-ts` executable
 * as a WebSocket connect end against real Python aiomsg 2026.7.1 bind ends
 * (which serve WebSocket clients on their own port, TLS included).
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Procs, provisionPython, readyPort, REPO_ROOT } from "./helpers.js";

const procs = new Procs();
afterEach(() => procs.killAll());
let pyV1: string;
let pki: { ca: string; cert: string; key: string; serverName: string };

beforeAll(async () => {
  pyV1 = await provisionPython("v1");
  const tlsLib = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "tls.mjs")).href)) as {
    makeTestPki(): Promise<typeof pki>;
  };
  pki = await tlsLib.makeTestPki();
});

describe("aiomsg-ts with ws:// and wss:// addresses against Python aiomsg 2026.7.1", () => {
  it("send --connect ws://host:port/path --at-least-once: a Python bind end gets every message and acknowledges them (exit 0)", async () => {
    const sink = procs.py("py sink", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--count", "3", "--delivery", "at-least-once"]);
    const port = await readyPort(sink);
    const send = procs.cli("send ws", ["send", "--connect", `ws://127.0.0.1:${port}/aiomsg`, "--at-least-once", "one", "two", "three"]);
    expect(await send.waitExit(15_000), send.describe()).toBe(0);
    expect(await sink.waitExit(15_000), sink.describe()).toBe(0);
    expect(sink.out).toEqual(["one", "two", "three"]);
    expect(send.err.some((l) => / connected \(v1 over ws, connect 127\.0\.0\.1:\d+\)$/.test(l)), send.describe()).toBe(true);
    expect(send.err.at(-1)).toBe("aiomsg-ts send: acknowledged 3 messages");
  });

  it("recv --connect wss:// verifies the Python TLS bind end's certificate (--tls-ca, --tls-server-name) and prints what it sends", async () => {
    const src = procs.py("py tls source", pyV1, ["--role", "bind", "--port", "0", "--behavior", "source", "--count", "3",
      "--wait-peers", "1", "--linger", "30", "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]);
    const port = await readyPort(src);
    const recv = procs.cli("recv wss", ["recv", "--connect", `wss://127.0.0.1:${port}/`, "--count", "3",
      "--tls-ca", pki.ca, "--tls-server-name", pki.serverName]);
    expect(await recv.waitExit(15_000), recv.describe()).toBe(0);
    expect(recv.out).toEqual(["m0", "m1", "m2"]);
    expect(recv.err.some((l) => l.includes("connected (v1 over wss, connect")), recv.describe()).toBe(true);
  });

  it("wss:// without the CA that signed the server certificate does not connect: the certificate is refused, nothing delivered (exit 1)", async () => {
    const sink = procs.py("py tls sink", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true",
      "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]);
    const port = await readyPort(sink);
    const send = procs.cli("send wss untrusted", ["send", "--connect", `wss://127.0.0.1:${port}/`, "--timeout", "2", "never"]);
    expect(await send.waitExit(15_000), send.describe()).toBe(1);
    expect(send.err.join("\n")).toMatch(/certificate/i);
    expect(send.err.at(-1)).toContain("1 of 1 messages not written");
    expect(sink.out).toEqual([]);
  });

  it("bridge relays from a ws:// connect end (Python bind source) to a TS bind side", async () => {
    const src = procs.py("py source", pyV1, ["--role", "bind", "--port", "0", "--behavior", "source", "--count", "5",
      "--wait-peers", "1", "--linger", "30"]);
    const port = await readyPort(src);
    const bridge = procs.cli("bridge", ["bridge", "--from", `ws://127.0.0.1:${port}/`, "--to-bind", "127.0.0.1:0"]);
    const toPort = Number((await waitOutLine(bridge, / to: listening on 127\.0\.0\.1:(\d+)/))[1]);
    const sink = procs.py("py sink", pyV1, ["--role", "connect", "--port", String(toPort), "--behavior", "sink", "--count", "5"]);
    expect(await sink.waitExit(20_000), `${sink.describe()}\n${bridge.describe()}`).toBe(0);
    expect(sink.out).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(bridge.out.some((l) => l.includes("from: connecting to ws://127.0.0.1:")), bridge.describe()).toBe(true);
    expect(bridge.out.some((l) => / from: peer [0-9a-f]{32} connected \(v1 over ws, /.test(l)), bridge.describe()).toBe(true);
  });
});

async function waitOutLine(p: import("./helpers.js").Proc, re: RegExp): Promise<RegExpExecArray> {
  let m: RegExpExecArray | null = null;
  await p.waitOut((lines) => lines.some((l) => (m = re.exec(l)) !== null), 10_000, `stdout ${re}`);
  return m!;
}
