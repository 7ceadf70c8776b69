/**
 * The README's Quick start and Usage, run as written: for each example, an
 * empty directory gets the files the README shows (each under its bold
 * `name` line), the packed tarball under the name the README installs, and
 * the README's shell lines, run one by one. A line's trailing comment
 * (`# hello`) is what it must print. Two lines are not run as written: the
 * Python virtualenv line (the venv is the harness's, made by the same
 * command from PyPI) and a line ending in `&` (started in the background, and
 * awaited until it prints). Reads the README shipped in the tarball: the
 * npm package's README is the user's part of the repository's.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Proc, Procs, provisionPython, REPO_ROOT } from "../cli/helpers.js";
import { packedTarball, run } from "./helpers.js";

const procs = new Procs();
const dirs: string[] = [];
let readme = "";
let tarball = "";
let python = "";

beforeAll(async () => {
  tarball = await packedTarball();
  const x = await run("tar readme", "tar", ["xzf", tarball, "-O", "package/README.md"]);
  expect(x.code, x.describe()).toBe(0);
  readme = x.out.join("\n");
  python = await provisionPython("v1");
}, 300_000);
afterAll(async () => {
  await procs.killAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The text of the README section under `heading` (to the next heading of its level or above). */
function section(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, `README section ${heading}`).toBeGreaterThanOrEqual(0);
  const rest = readme.slice(start + heading.length + 2);
  const next = new RegExp(`\\n#{1,${level}} `).exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** Files shown as **`name`** followed by a code block, and the sh blocks in order. */
function parse(text: string): { files: Map<string, string>; commands: string[] } {
  const files = new Map<string, string>();
  const commands: string[] = [];
  const re = /(?:\*\*`([^`]+)`\*\*[^\n]*\n+)?```(\w+)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1]) files.set(m[1], m[3]!);
    else if (m[2] === "sh") commands.push(...m[3]!.split("\n").filter((l) => l.trim() !== ""));
  }
  return { files, commands };
}

/** Lay out an example in an empty directory and run its shell lines as written. */
async function runExample(name: string, text: string): Promise<void> {
  const { files, commands } = parse(text);
  expect(files.size, `${name}: files`).toBeGreaterThan(0);
  expect(commands.length, `${name}: commands`).toBeGreaterThan(0);
  const dir = mkdtempSync(path.join(os.tmpdir(), `aiomsg-readme-${name}-`));
  dirs.push(dir);
  for (const [file, body] of files) writeFileSync(path.join(dir, file), body);
  const env = { npm_config_audit: "false", npm_config_fund: "false", npm_config_prefer_offline: "true", npm_config_update_notifier: "false" };
  for (const line of commands) {
    const [cmd, expected] = line.split(/\s+#\s+/) as [string, string | undefined];
    const install = /npm install (\.\/aiomsg-ts-[\d.]+\.tgz)/.exec(cmd);
    if (install) copyFileSync(tarball, path.join(dir, install[1]!));
    if (cmd.startsWith("python3 -m venv .venv")) {
      expect(cmd).toMatch(/pip install aiomsg==2026\.7\.1/);
      symlinkSync(path.dirname(path.dirname(python)), path.join(dir, ".venv"));
      continue;
    }
    if (cmd.trimEnd().endsWith("&")) {
      const p = procs.add(new Proc(`${name}: ${cmd}`, "sh", ["-c", `exec ${cmd.trimEnd().slice(0, -1)}`], { cwd: dir, env }));
      await p.waitOut((l) => l.length > 0 && (expected === undefined || l.includes(expected)), 30_000, `${cmd} to print`);
      continue;
    }
    const p = await run(`${name}: ${cmd}`, "sh", ["-c", cmd], { cwd: dir, env, timeoutMs: 240_000 });
    expect(p.code, p.describe()).toBe(0);
    if (expected !== undefined) expect(p.out.join("\n"), p.describe()).toBe(expected.trim());
  }
  await procs.killAll();
}

describe("README, as a user runs it", () => {
  it("Quick start, ESM: package.json, hello.js and its commands, in an empty directory", async () => {
    await runExample("esm", section("### ESM (JavaScript)"));
  });

  it("Quick start, CommonJS: the package.json `npm init -y` makes, hello.cjs and its commands", async () => {
    await runExample("cjs", section("### CommonJS"));
  });

  it("Quick start, TypeScript: package.json (\"type\": \"module\"), tsconfig.json, hello.ts, tsc, node", async () => {
    await runExample("ts", section("### TypeScript"));
  });

  it("Quick start, with Python: a TS server and the Python client as written, on real aiomsg 2026.7.1", async () => {
    await runExample("python", section("### With a Python peer"));
  });

  it("Usage: the time server and its TypeScript and Python clients as written", async () => {
    // In the TypeScript directory of the Quick start, as the Usage section says; its examples end at the first subsection (API).
    const usage = section("## Usage").split("\n### ")[0]!;
    expect(usage).toContain("TypeScript");
    await runExample("usage", section("### TypeScript") + usage);
  });

  it("the package README is the user's part: it ends before the repository's development sections", () => {
    expect(readme).toContain("## Quick start");
    expect(readme).not.toContain("## Development");
    expect(readme).not.toMatch(/\n### Targets\n/);
    const repo = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    expect(repo).toContain("## Development");
  });
});
