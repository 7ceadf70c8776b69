// Provisions the two real Python aiomsg releases the harness talks to, each in its
// own cached virtualenv next to this package:
//   interop/.venv-v1      aiomsg==2026.7.1   (wire "v1")
//   interop/.venv-legacy  aiomsg==2019.12.3  (wire "legacy")
// A marker file records what was installed; a venv whose marker matches is reused.
// A lock directory (mkdir is atomic) keeps concurrent runners (vitest workers, a
// runner started while tests run) from installing into the same venv at once.
import { execa } from "execa";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const INTEROP_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The Python releases under test, keyed by wire name. */
export const PYTHON_RELEASES = {
  v1: { wire: "v1", version: "2026.7.1", venv: path.join(INTEROP_DIR, ".venv-v1") },
  legacy: { wire: "legacy", version: "2019.12.3", venv: path.join(INTEROP_DIR, ".venv-legacy") },
};

const MARKER = ".aiomsg-interop-provisioned";

/** The interpreter used to create the venvs (override with AIOMSG_INTEROP_PYTHON). */
export function basePython() {
  return process.env.AIOMSG_INTEROP_PYTHON || "python3";
}

export function venvPython(wire) {
  const rel = PYTHON_RELEASES[wire];
  if (!rel) throw new TypeError(`unknown wire ${wire}`);
  return pythonIn(rel.venv);
}

function pythonIn(venv) {
  return process.platform === "win32" ? path.join(venv, "Scripts", "python.exe") : path.join(venv, "bin", "python");
}

/** Venvs of the release compatibility matrix: one per aiomsg version (the two wires' own are reused). */
export const RELEASES_DIR = path.join(INTEROP_DIR, ".venv-releases");

export function releaseVenv(version) {
  const own = Object.values(PYTHON_RELEASES).find((r) => r.version === version);
  return own ? own.venv : path.join(RELEASES_DIR, version);
}

export function releasePython(version) {
  return pythonIn(releaseVenv(version));
}

/**
 * Ensures a cached venv with aiomsg==version. Never throws for a release that
 * does not install or import: resolves {ok: false, stage, error} instead.
 * @returns {Promise<{ok: true, python: string} | {ok: false, stage: "install"|"import", error: string}>}
 */
export async function provisionRelease(version, opts = {}) {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const rel = { version, venv: releaseVenv(version) };
  const python = pythonIn(rel.venv);
  if (await isProvisioned(rel, python)) return { ok: true, python };
  await mkdir(path.dirname(rel.venv), { recursive: true });
  return withLock(`${rel.venv}.lock`, 10 * 60_000, async () => {
    if (await isProvisioned(rel, python)) return { ok: true, python };
    log(`[interop] provisioning ${rel.venv} with aiomsg==${version}`);
    await rm(rel.venv, { recursive: true, force: true });
    await execa(basePython(), ["-m", "venv", rel.venv]);
    const pip = await execa(
      python,
      ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", `aiomsg==${version}`],
      { reject: false, all: true },
    );
    if (pip.exitCode !== 0) return { ok: false, stage: "install", error: lastLine(pip.all) };
    const check = await execa(
      python,
      ["-c", "import aiomsg, importlib.metadata as m; print(m.version('aiomsg'))"],
      { reject: false, all: true },
    );
    if (check.exitCode !== 0) return { ok: false, stage: "import", error: lastLine(check.all) };
    if (check.stdout.trim() !== version) {
      return { ok: false, stage: "install", error: `expected aiomsg ${version}, got ${check.stdout.trim()}` };
    }
    await writeFile(path.join(rel.venv, MARKER), markerText(rel));
    return { ok: true, python };
  });
}

function lastLine(text = "") {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.findLast((l) => /error/i.test(l)) ?? lines.at(-1) ?? "";
}

function markerText(rel) {
  return `aiomsg==${rel.version}\n`;
}

async function isProvisioned(rel, python) {
  try {
    const marker = await readFile(path.join(rel.venv, MARKER), "utf8");
    return marker === markerText(rel) && existsSync(python);
  } catch {
    return false;
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

async function withLock(lockDir, deadlineMs, fn) {
  const start = Date.now();
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, "pid"), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      // A lock left behind by a process that died is stale: take it over.
      const owner = Number(await readFile(path.join(lockDir, "pid"), "utf8").catch(() => "0"));
      if (owner && !pidAlive(owner)) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > deadlineMs) {
        throw new Error(`timed out waiting for provisioning lock ${lockDir}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Ensures the venv for `wire` exists with the pinned aiomsg; returns its python path.
 * @param {"v1"|"legacy"} wire
 * @param {{log?: (line: string) => void}} [opts]
 */
export async function provisionPython(wire, opts = {}) {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const rel = PYTHON_RELEASES[wire];
  if (!rel) throw new TypeError(`unknown wire ${wire}`);
  const python = venvPython(wire);
  if (await isProvisioned(rel, python)) return python;

  return withLock(`${rel.venv}.lock`, 10 * 60_000, async () => {
    if (await isProvisioned(rel, python)) return python; // another process did it meanwhile
    log(`[interop] provisioning ${rel.venv} with aiomsg==${rel.version}`);
    await rm(rel.venv, { recursive: true, force: true });
    await execa(basePython(), ["-m", "venv", rel.venv], { stdio: "inherit" });
    await execa(
      python,
      ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", `aiomsg==${rel.version}`],
      { stdout: "inherit", stderr: "inherit" },
    );
    // Check that the interpreter really imports the pinned release before caching it.
    const { stdout } = await execa(python, [
      "-c",
      "import aiomsg, importlib.metadata as m; print(m.version('aiomsg'))",
    ]);
    if (stdout.trim() !== rel.version) {
      throw new Error(`${rel.venv}: expected aiomsg ${rel.version}, got ${stdout.trim()}`);
    }
    await writeFile(path.join(rel.venv, MARKER), markerText(rel));
    return python;
  });
}

/** Provisions every wire in `wires` (sequentially: pip runs are heavy on 2 cores). */
export async function provisionAll(wires = ["v1", "legacy"], opts = {}) {
  const out = {};
  for (const wire of wires) out[wire] = await provisionPython(wire, opts);
  return out;
}
