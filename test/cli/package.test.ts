/**
 * The executable ships in the npm package: the packed tarball (test/package/helpers.ts)
 * installed into an empty project with npm, and `npx aiomsg-ts` run there.
 */
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { freePort } from "./helpers.js";
import { installedProject, run } from "../package/helpers.js";

let dir = "";
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("npm package", () => {
  it("after `npm install` of the packed tarball, `npx aiomsg-ts` runs (help exit 0, a refused ping exit 1)", async () => {
    dir = await installedProject("npx");
    const help = await run("npx --help", "npx", ["--no-install", "aiomsg-ts", "--help"], { cwd: dir, timeoutMs: 30_000 });
    expect(help.code, help.describe()).toBe(0);
    expect(help.out[0]).toBe("Usage: aiomsg-ts <command> [flags]");
    const port = await freePort();
    const ping = await run("npx ping", "npx", ["--no-install", "aiomsg-ts", "ping", `127.0.0.1:${port}`], { cwd: dir, timeoutMs: 30_000 });
    expect(ping.code, ping.describe()).toBe(1);
    expect(ping.err[0]).toBe(`aiomsg-ts ping: 127.0.0.1:${port}: connection refused`);
  }, 300_000);
});
