/**
 * How the commands report trouble, with the built `aiomsg-ts` executable: a
 * bind that cannot listen is reported once, under ERR_AIOMSG_BIND_FAILED; a
 * peer that is not aiomsg (a real HTTP server, another protocol's banner, a
 * port that accepts and stays silent, a TLS port dialled without TLS) is named ERR_AIOMSG_NOT_AIOMSG by ping,
 * send, recv and bridge, and the connecting commands back off (200, 400,
 * 800 ms...) instead of redialling every 100 ms; recv --count counts only
 * what it printed.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as http from "node:http";
import * as net from "node:net";
import { once } from "node:events";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Proc, Procs, provisionPython, readyPort, REPO_ROOT } from "./helpers.js";

const procs = new Procs();
const servers: net.Server[] = [];
afterEach(async () => {
  await procs.killAll();
  for (const s of servers.splice(0)) {
    if ("closeAllConnections" in s) (s as http.Server).closeAllConnections();
    s.close();
  }
});
let pyV1: string;
const PY_SEND = path.join(REPO_ROOT, "test", "cli", "py_send.py");
beforeAll(async () => {
  pyV1 = await provisionPython("v1");
});

async function listen<T extends net.Server>(server: T): Promise<number> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Ports that are not aiomsg: a real HTTP server, a server that greets with an SSH banner, one that accepts and says nothing. */
const NOT_AIOMSG: Array<[string, () => net.Server, RegExp]> = [
  ["an HTTP server", () => http.createServer((_req, res) => res.end("hello")), /ERR_AIOMSG_NOT_AIOMSG: the peer speaks HTTP/],
  [
    "an SSH banner",
    () => net.createServer((s) => {
      s.on("error", () => undefined);
      s.write("SSH-2.0-OpenSSH_9.6\r\n");
    }),
    /ERR_AIOMSG_NOT_AIOMSG: the peer's first bytes \("SSH-\.\.\."\) announce a frame of \d+ bytes/,
  ],
  [
    "a silent port",
    () => net.createServer((s) => void s.on("error", () => undefined)),
    /ERR_AIOMSG_NOT_AIOMSG: .*(sent nothing|no aiomsg greeting)/,
  ],
];

/** The backoff lines a connecting command printed, as delays in ms, in order. */
function backoffs(lines: string[]): number[] {
  return lines.flatMap((l) => {
    const m = /backing off: next attempt to \S+ in (\d+) ms/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}

describe("a bind that cannot listen", () => {
  it.each(["recv", "send", "bridge"])("%s reports it once, under ERR_AIOMSG_BIND_FAILED, exit 1", async (cmd) => {
    const port = await listen(net.createServer());
    const args =
      cmd === "bridge"
        ? ["bridge", "--from-bind", `127.0.0.1:${port}`, "--to", "127.0.0.1:1"]
        : cmd === "send"
          ? ["send", "--bind", `127.0.0.1:${port}`, "hello"]
          : ["recv", "--bind", `127.0.0.1:${port}`];
    const p = procs.cli(`${cmd} bind in use`, args);
    expect(await p.waitExit(10_000)).toBe(1);
    const all = [...p.err, ...p.out].filter((l) => /ERR_AIOMSG|cannot listen/.test(l));
    expect(all, p.describe()).toHaveLength(1);
    expect(all[0]).toMatch(new RegExp(`ERR_AIOMSG_BIND_FAILED: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    expect(all.join("\n")).not.toContain("PEER_LOST");
  });
});

describe("a peer that is not aiomsg", () => {
  for (const [what, make, named] of NOT_AIOMSG) {
    it(`${what}: ping names it ERR_AIOMSG_NOT_AIOMSG, exit 1`, async () => {
      const port = await listen(make());
      const p = procs.cli("ping", ["ping", `127.0.0.1:${port}`, "--timeout", "1"]);
      expect(await p.waitExit(10_000)).toBe(1);
      expect(p.err.join("\n"), p.describe()).toMatch(named);
    });

    it.each(["recv", "send", "bridge"])(`${what}: %s names it ERR_AIOMSG_NOT_AIOMSG and backs off, each wait longer`, async (cmd) => {
      const port = await listen(make());
      const addr = `127.0.0.1:${port}`;
      // --handshake-timeout turns the 15 s handshake deadline down, so the silent port is judged in 0.3 s.
      const judge = ["--handshake-timeout", "0.3"];
      const args =
        cmd === "bridge"
          ? ["bridge", "--from", addr, "--to-bind", "127.0.0.1:0", ...judge]
          : cmd === "send"
            ? ["send", "--connect", addr, "--timeout", "60", ...judge, "hello"]
            : ["recv", "--connect", addr, ...judge];
      const p = procs.cli(`${cmd} -> ${what}`, args);
      const lines = (): string[] => [...p.err, ...p.out];
      const deadline = Date.now() + 15_000;
      while (backoffs(lines()).length < 3 && Date.now() < deadline && !p.exited) await new Promise((r) => setTimeout(r, 50));
      expect(lines().join("\n"), p.describe()).toMatch(named);
      const waits = backoffs(lines());
      expect(waits.slice(0, 3), p.describe()).toEqual([200, 400, 800]);
    });
  }
});

describe("a TLS port dialled without TLS (a real Python 2026.7.1 bind end with TLS)", () => {
  let pki: { ca: string; cert: string; key: string };
  beforeAll(async () => {
    const tlsLib = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "tls.mjs")).href)) as { makeTestPki(): Promise<typeof pki> };
    pki = await tlsLib.makeTestPki();
  });
  const tlsPeer = async (): Promise<number> =>
    readyPort(procs.py("py tls bind", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true", "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]));

  it("ping names it ERR_AIOMSG_NOT_AIOMSG and says to add --tls, exit 1", async () => {
    const port = await tlsPeer();
    const p = procs.cli("ping", ["ping", `127.0.0.1:${port}`]);
    expect(await p.waitExit(10_000)).toBe(1);
    expect(p.err.join("\n"), p.describe()).toMatch(/ERR_AIOMSG_NOT_AIOMSG: a TLS port, and the probe spoke plain TCP: add --tls/);
  });

  it.each(["recv", "send", "bridge"])("%s names it ERR_AIOMSG_NOT_AIOMSG and backs off", async (cmd) => {
    const port = await tlsPeer();
    const addr = `127.0.0.1:${port}`;
    const args =
      cmd === "bridge" ? ["bridge", "--from", addr, "--to-bind", "127.0.0.1:0"] : cmd === "send" ? ["send", "--connect", addr, "--timeout", "60", "hello"] : ["recv", "--connect", addr];
    const p = procs.cli(`${cmd} -> tls`, args);
    const lines = (): string[] => [...p.err, ...p.out];
    const deadline = Date.now() + 15_000;
    while (backoffs(lines()).length < 3 && Date.now() < deadline && !p.exited) await new Promise((r) => setTimeout(r, 50));
    expect(lines().join("\n"), p.describe()).toMatch(/ERR_AIOMSG_NOT_AIOMSG: 127\.0\.0\.1:\d+ is a TLS port and this end connects without TLS/);
    expect(backoffs(lines()).slice(0, 3), p.describe()).toEqual([200, 400, 800]);
  });
});

describe("recv --count", () => {
  it("--format json --count 1 skips an undecodable message without counting it, prints the next and exits 0", async () => {
    const recv = procs.cli("recv json", ["recv", "--bind", "127.0.0.1:0", "--count", "1", "--format", "json"]);
    const port = Number((await recv.waitErr(/listening on 127\.0\.0\.1:(\d+)/, 10_000))[1]);
    procs.add(new Proc("py send", pyV1, [PY_SEND, String(port), Buffer.from("not json").toString("hex"), Buffer.from('{"ok": 1}').toString("hex")]));
    expect(await recv.waitExit(15_000)).toBe(0);
    expect(recv.out).toEqual(['{"ok":1}']);
    expect(recv.err.some((l) => l.includes("message 1 (8 bytes) is not json, skipped (not counted)"))).toBe(true);
  });
});
