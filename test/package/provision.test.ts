/**
 * scripts/provision.mjs (the test command's `pretest`) on a machine where it
 * cannot install: it names exactly what to install and fails, rather than
 * letting the tests fail later for a missing tool.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../cli/helpers.js";
import { run } from "./helpers.js";

describe("provisioning", () => {
  it("with no apt-get, openssl, tmux or chromium reachable it prints the apt-get line to run and exits 1", async () => {
    // PATH holds only an empty directory: no shell, no apt-get, no openssl, no tmux.
    const empty = mkdtempSync(path.join(os.tmpdir(), "aiomsg-empty-path-"));
    const env = { PATH: empty, AIOMSG_CHROMIUM: "/nonexistent/chromium" };
    const p = await run("provision --system", process.execPath, [path.join(REPO_ROOT, "scripts", "provision.mjs"), "--system"], { env, timeoutMs: 30_000 });
    rmSync(empty, { recursive: true });
    expect(p.code, p.describe()).toBe(1);
    expect(p.err).toContain("[provision] the tests need: openssl tmux chromium. On Debian/Ubuntu, as root: apt-get update && apt-get install -y openssl tmux chromium");
  });

  it("--system=openssl asks for openssl alone (what `pnpm interop` provisions)", async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), "aiomsg-empty-path-"));
    const env = { PATH: empty, AIOMSG_CHROMIUM: "/nonexistent/chromium" };
    const p = await run("provision --system=openssl", process.execPath, [path.join(REPO_ROOT, "scripts", "provision.mjs"), "--system=openssl"], { env, timeoutMs: 30_000 });
    rmSync(empty, { recursive: true });
    expect(p.code, p.describe()).toBe(1);
    expect(p.err).toEqual(["[provision] the tests need: openssl. On Debian/Ubuntu, as root: apt-get update && apt-get install -y openssl"]);
  });

  it("on this machine every Debian package the tests use is present after provisioning", async () => {
    const p = await run("provision --system", process.execPath, [path.join(REPO_ROOT, "scripts", "provision.mjs"), "--system"], { timeoutMs: 600_000 });
    expect(p.code, p.describe()).toBe(0);
  });
});
