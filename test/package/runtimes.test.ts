/**
 * The runtime smoke set (smoke.mjs) through the packed tarball on Node, Bun and
 * Deno: loopback TS <-> TS over TCP, TLS, ws:// and wss://, and a round trip with
 * a real Python aiomsg 2026.7.1 echo bind end. Bun and Deno come from the npm
 * registry (scripts/provision.mjs, cached in .runtimes/).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Procs, provisionPython, readyPort, REPO_ROOT } from "../cli/helpers.js";
import { installedProject, run } from "./helpers.js";

type Provision = { provisionRuntime(name: string): string };
const { makeTestPki } = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "tls.mjs")).href)) as { makeTestPki(dir: string): Promise<unknown> };

let dir = "";
let python = "";
const procs = new Procs();

beforeAll(async () => {
  dir = await installedProject("runtimes", [], { type: "module" });
  copyFileSync(path.join(REPO_ROOT, "test", "package", "smoke.mjs"), path.join(dir, "smoke.mjs"));
  await makeTestPki(path.join(dir, "pki"));
  python = await provisionPython("v1");
}, 300_000);
afterAll(async () => {
  await procs.killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function binary(runtime: string): Promise<string> {
  if (runtime === "node") return process.execPath;
  const mod = (await import(pathToFileURL(path.join(REPO_ROOT, "scripts", "provision.mjs")).href)) as Provision;
  return mod.provisionRuntime(runtime);
}

const RUNTIMES: Record<string, (smoke: string) => string[]> = {
  node: (smoke) => [smoke],
  bun: (smoke) => [smoke],
  deno: (smoke) => ["run", "--allow-net", "--allow-read", smoke],
};

describe.each(Object.keys(RUNTIMES))("%s through the packed tarball", (runtime) => {
  it(`${runtime}: TS <-> TS over tcp://, TLS, ws:// and wss://, and TS -> Python aiomsg echo, all round-trip`, async () => {
    const bin = await binary(runtime);
    const echo = procs.py(`python echo for ${runtime}`, python, ["--role", "bind", "--port", "0", "--behavior", "echo", "--count", "3"]);
    const port = await readyPort(echo);
    const smoke = await run(`${runtime} smoke.mjs`, bin, [...RUNTIMES[runtime]!("smoke.mjs"), "pki", String(port)], { cwd: dir, timeoutMs: 90_000 });
    expect(smoke.code, smoke.describe()).toBe(0);
    expect(smoke.out).toEqual([
      'ok tcp tcp v1 "pong: ping over tcp"',
      'ok tls tls v1 "pong: ping over tls"',
      'ok ws ws v1 "pong: ping over ws"',
      'ok wss wss v1 "pong: ping over wss"',
      "ok python echoed py-0,py-1,py-2",
    ]);
    await echo.waitExit(20_000);
    expect(echo.code, echo.describe()).toBe(0);
  }, 180_000);
});
