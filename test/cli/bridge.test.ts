/**
 * `aiomsg-ts bridge` between a 2019.12.3 peer and a 2026.7.1 peer (real Python
 * aiomsg), both ways: plain log lines without a terminal, and the live status
 * line on a terminal, driven by tmux and read back from the screen.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { CLI, freePort, Procs, provisionPython, readyPort, REPO_ROOT, waitFor } from "./helpers.js";

const procs = new Procs();
afterEach(() => procs.killAll());
let pyV1: string;
let pyLegacy: string;
beforeAll(async () => {
  pyV1 = await provisionPython("v1");
  pyLegacy = await provisionPython("legacy");
});

const seq = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

/** A 2019 requester on the bridge's legacy side and a 2026 requester on its v1 side, each printing what the other sent. */
function requesters(fromPort: number, toPort: number, n: number, extra: string[] = []) {
  const old = procs.py("py 2019.12.3", pyLegacy, ["--role", "connect", "--port", String(fromPort), "--behavior", "request",
    "--count", String(n), "--prefix", "old", "--linger", "1", ...extra]);
  const neu = procs.py("py 2026.7.1", pyV1, ["--role", "connect", "--port", String(toPort), "--behavior", "request",
    "--count", String(n), "--prefix", "new", "--linger", "1", ...extra]);
  return { old, neu };
}

describe("aiomsg-ts bridge", () => {
  it("without a terminal: relays a 2019 peer and a 2026 peer both ways and writes plain log lines, then totals on SIGTERM", async () => {
    const [fromPort, toPort] = [await freePort(), await freePort()];
    const bridge = procs.cli("bridge", ["bridge", "--from-bind", `127.0.0.1:${fromPort}`, "--from-protocol", "legacy",
      "--to-bind", `127.0.0.1:${toPort}`, "--stats-interval", "0.2"]);
    await bridge.waitOut((l) => l.some((x) => x.includes(`to: listening on 127.0.0.1:${toPort} (v1)`)), 10_000, "both sides listening");
    const { old, neu } = requesters(fromPort, toPort, 5, ["--wait-peers", "1"]);
    expect(await old.waitExit(20_000)).toBe(0);
    expect(await neu.waitExit(20_000)).toBe(0);
    expect(old.out).toEqual(seq("new", 5));
    expect(neu.out).toEqual(seq("old", 5));
    await bridge.waitOut((l) => l.some((x) => / stats .*from→to 5 .*to→from 5 /.test(`${x} `)), 10_000, "a stats line with 5 each way");
    bridge.kill("SIGTERM");
    expect(await bridge.waitExit(10_000)).toBe(0);
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
    for (const l of bridge.out) expect(l).toMatch(iso);
    expect(bridge.out.join("\n")).toMatch(/from: peer [0-9a-f]{32} connected \(legacy, /);
    expect(bridge.out.join("\n")).toMatch(/to: peer [0-9a-f]{32} connected \(v1, /);
    expect(bridge.out.at(-1)).toMatch(/stopped: from 0 peers \| to 0 peers \| from→to 5 \(\d+\/s\) \| to→from 5 \(\d+\/s\)$/);
    expect(bridge.out.join("\n")).not.toContain("\x1b[");
  });

  it("--tls-side from: TLS toward a Python TLS bind end on one side, plain TCP to a Python bind end on the other", async () => {
    const tlsLib = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "tls.mjs")).href)) as {
      makeTestPki(): Promise<{ ca: string; cert: string; key: string; serverName: string }>;
    };
    const pki = await tlsLib.makeTestPki();
    const src = procs.py("py tls source", pyV1, ["--role", "bind", "--port", "0", "--behavior", "source", "--count", "5",
      "--wait-peers", "1", "--linger", "30", "--tls", "true", "--tls-cert", pki.cert, "--tls-key", pki.key]);
    const sink = procs.py("py sink", pyV1, ["--role", "bind", "--port", "0", "--behavior", "sink", "--count", "5"]);
    const [srcPort, sinkPort] = [await readyPort(src), await readyPort(sink)];
    procs.cli("bridge", ["bridge", "--from", `127.0.0.1:${srcPort}`, "--to", `127.0.0.1:${sinkPort}`,
      "--tls-side", "from", "--tls-ca", pki.ca, "--tls-server-name", pki.serverName]);
    expect(await sink.waitExit(20_000)).toBe(0);
    expect(sink.out).toEqual(seq("m", 5));
  });

  it("on a terminal (tmux): a live status line with peers per wire, messages each way and rate; Ctrl-C stops it with exit 0", async () => {
    const [fromPort, toPort] = [await freePort(), await freePort()];
    const server = `aiomsg-cli-test-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", server, ...args], { encoding: "utf8" });
    const screen = (): string => tmux("capture-pane", "-p", "-t", "bridge");
    const waitScreen = async (pred: (s: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> => {
      let last = "";
      try {
        await waitFor(() => pred((last = screen())), timeoutMs, what);
      } catch (err) {
        throw new Error(`${(err as Error).message}\nscreen:\n${last}`);
      }
      return last;
    };
    const cmd = [process.execPath, CLI, "bridge", "--from-bind", `127.0.0.1:${fromPort}`, "--from-protocol", "legacy",
      "--to-bind", `127.0.0.1:${toPort}`].map((a) => `'${a}'`).join(" ");
    tmux("-f", "/dev/null", "new-session", "-d", "-s", "bridge", "-x", "160", "-y", "20", `${cmd}; echo "exit status $?"; read`);
    try {
      const idle = await waitScreen((s) => s.includes("from 0 peers | to 0 peers | from→to 0 (0/s) | to→from 0 (0/s)"), "the idle status line");
      expect(idle).toContain(`from: listening on 127.0.0.1:${fromPort} (legacy)`);

      // 40 messages each way, one every 50 ms: the rate shows while they flow.
      const { old, neu } = requesters(fromPort, toPort, 40, ["--wait-peers", "1", "--interval", "0.05", "--linger", "30"]);
      const busy = await waitScreen((s) => /from→to \d+ \([1-9]\d*\/s\)/.test(s), "a non-zero rate");
      expect(busy).toMatch(/from 1 peer \(legacy 1\) \| to 1 peer \(v1 1\) \|/);
      await old.waitOut((l) => l.length === 40, 20_000, "40 replies at the 2019 peer");
      await neu.waitOut((l) => l.length === 40, 20_000, "40 replies at the 2026 peer");
      const done = await waitScreen((s) => s.includes("from→to 40 (") && s.includes("to→from 40 ("), "40 each way");
      // Peer events scroll above the status line, which stays the last line written.
      const lines = done.split("\n").filter((l) => l.trim() !== "");
      expect(lines.at(-1)).toMatch(/^from 1 peer \(legacy 1\) \| to 1 peer \(v1 1\) \| from→to 40 \(\d+\/s\) \| to→from 40 \(\d+\/s\)$/);
      expect(done).toMatch(/from: peer [0-9a-f]{32} connected \(legacy, /);
      expect(done).toMatch(/to: peer [0-9a-f]{32} connected \(v1, /);

      tmux("send-keys", "-t", "bridge", "C-c");
      const stopped = await waitScreen((s) => s.includes("exit status"), "the bridge to exit");
      expect(stopped).toMatch(/stopped: from \d peers? .*from→to 40 .*to→from 40 /);
      expect(stopped).toContain("exit status 0");
    } finally {
      try {
        tmux("kill-server");
      } catch {
        /* already gone */
      }
    }
  });
});
