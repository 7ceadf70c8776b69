/**
 * The npm package as a user gets it: `npm pack` run on an unbuilt copy of the
 * package (so `prepack` must build it), the tarball cached per content of what
 * goes into it (shared by every test file of a run, and across runs), and
 * installed with npm into empty temp projects.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Proc, REPO_ROOT, waitFor } from "../cli/helpers.js";

export const CORE = path.join(REPO_ROOT, "packages", "core");
/** What the package's build reads: a change to any of these makes a new tarball. */
const CORE_INPUTS = ["package.json", "tsconfig.build.json", "tsconfig.cjs.json", "LICENSE", "bin", "scripts", "src"];
const ROOT_INPUTS = ["README.md", "tsconfig.base.json"];

export async function run(label: string, file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Proc> {
  const p = new Proc(label, file, args, { cwd: opts.cwd, env: opts.env });
  try {
    await p.waitExit(opts.timeoutMs ?? 120_000);
  } catch (err) {
    p.kill();
    throw err;
  }
  return p;
}

function files(root: string, rel: string): string[] {
  const abs = path.join(root, rel);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).sort().flatMap((name) => files(root, path.join(rel, name)));
}

function inputsHash(): string {
  const h = createHash("sha256");
  for (const [root, list] of [[CORE, CORE_INPUTS], [REPO_ROOT, ROOT_INPUTS]] as const) {
    for (const rel of list.flatMap((r) => files(root, r))) {
      h.update(`${rel}\0`).update(readFileSync(path.join(root, rel))).update("\0");
    }
  }
  return h.digest("hex").slice(0, 16);
}

/**
 * The packed tarball's path. Packs a copy holding only the package's sources (no
 * dist/), with the repository's installed node_modules linked in for the compiler,
 * so the build the tarball carries comes from `prepack`.
 */
export async function packedTarball(): Promise<string> {
  const cache = path.join(os.tmpdir(), "aiomsg-ts-pack");
  mkdirSync(cache, { recursive: true });
  const key = inputsHash();
  const tarball = path.join(cache, `${key}.tgz`);
  if (existsSync(tarball)) return tarball;
  const lock = path.join(cache, `${key}.lock`);
  // mkdir is atomic: one test file packs while the others wait for the tarball.
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(tarball)) return tarball;
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true, force: true });
      await waitFor(() => existsSync(tarball) || !existsSync(lock), 5 * 60_000, "another test packing the tarball");
      if (existsSync(tarball)) return tarball;
    }
  }
  const stage = mkdtempSync(path.join(os.tmpdir(), "aiomsg-ts-unbuilt-"));
  try {
    for (const rel of ROOT_INPUTS) cpSync(path.join(REPO_ROOT, rel), path.join(stage, rel));
    symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(stage, "node_modules"));
    const core = path.join(stage, "packages", "core");
    for (const rel of CORE_INPUTS) if (existsSync(path.join(CORE, rel))) cpSync(path.join(CORE, rel), path.join(core, rel), { recursive: true });
    symlinkSync(path.join(CORE, "node_modules"), path.join(core, "node_modules"));
    const pack = await run("npm pack (unbuilt copy)", "npm", ["pack", "--pack-destination", stage], { cwd: core, timeoutMs: 180_000 });
    if (pack.code !== 0) throw new Error(pack.describe());
    renameSync(path.join(stage, pack.out.at(-1)!), tarball);
    return tarball;
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(lock, { recursive: true, force: true });
  }
}

/** An empty npm project in a temp dir with the tarball (and `extra` registry packages) installed. */
export async function installedProject(prefix: string, extra: string[] = [], pkg: Record<string, unknown> = {}): Promise<string> {
  const tarball = await packedTarball();
  const dir = mkdtempSync(path.join(os.tmpdir(), `aiomsg-${prefix}-`));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `${prefix}-check`, version: "1.0.0", private: true, ...pkg }, null, 2));
  const install = await run("npm install", "npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball, ...extra], { cwd: dir, timeoutMs: 180_000 });
  if (install.code !== 0) throw new Error(install.describe());
  return dir;
}
