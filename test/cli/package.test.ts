/**
 * The executable ships in the npm package: `npm pack` the core, install the
 * tarball into an empty project with npm, and run `npx aiomsg-ts` there.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, Proc, REPO_ROOT } from "./helpers.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-npx-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(label: string, file: string, args: string[], cwd: string, timeoutMs: number): Promise<Proc> {
  const p = new Proc(label, file, args, { cwd });
  await p.waitExit(timeoutMs);
  return p;
}

describe("npm package", () => {
  it("after `npm install` of the packed tarball, `npx aiomsg-ts` runs (help exit 0, a refused ping exit 1)", async () => {
    const pack = await run("npm pack", "npm", ["pack", "--pack-destination", dir], path.join(REPO_ROOT, "packages", "core"), 60_000);
    expect(pack.code, pack.describe()).toBe(0);
    const tarball = path.join(dir, pack.out.at(-1)!);
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "npx-check", version: "1.0.0", private: true }));
    const install = await run("npm install", "npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], dir, 120_000);
    expect(install.code, install.describe()).toBe(0);
    const help = await run("npx --help", "npx", ["--no-install", "aiomsg-ts", "--help"], dir, 30_000);
    expect(help.code, help.describe()).toBe(0);
    expect(help.out[0]).toBe("Usage: aiomsg-ts <command> [flags]");
    const port = await freePort();
    const ping = await run("npx ping", "npx", ["--no-install", "aiomsg-ts", "ping", `127.0.0.1:${port}`], dir, 30_000);
    expect(ping.code, ping.describe()).toBe(1);
    expect(ping.err[0]).toBe(`aiomsg-ts ping: 127.0.0.1:${port}: connection refused`);
  });
});
