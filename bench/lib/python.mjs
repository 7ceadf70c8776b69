// The bench provisions its own Python: a venv at bench/.venv holding the real
// aiomsg from PyPI, created once and reused while it still has that version.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import path from "node:path";

const run = promisify(execFile);
export const AIOMSG_PY_VERSION = "2026.7.1";

async function installedVersion(python) {
  try {
    const { stdout } = await run(python, [
      "-c",
      "import importlib.metadata as m, platform; print(m.version('aiomsg'), platform.python_version())",
    ]);
    const [aiomsg, py] = stdout.trim().split(" ");
    return { aiomsg, python: py };
  } catch {
    return undefined;
  }
}

/** Returns { python, aiomsg, pythonVersion } or { error }. */
export async function provisionPython(benchDir, log) {
  const venv = path.join(benchDir, ".venv");
  const python = path.join(venv, "bin", "python");
  let have = existsSync(python) ? await installedVersion(python) : undefined;
  if (have?.aiomsg === AIOMSG_PY_VERSION) return { python, aiomsg: have.aiomsg, pythonVersion: have.python };
  const base = process.env.BENCH_PYTHON ?? "python3";
  try {
    if (!existsSync(python)) {
      log(`creating ${path.relative(process.cwd(), venv)} with ${base} -m venv`);
      await run(base, ["-m", "venv", venv]);
    }
    log(`pip install aiomsg==${AIOMSG_PY_VERSION} into the bench venv`);
    await run(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `aiomsg==${AIOMSG_PY_VERSION}`], {
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    return { error: `could not provision Python aiomsg ${AIOMSG_PY_VERSION}: ${String(err.stderr || err.message).trim().split("\n").slice(-3).join(" ")}` };
  }
  have = await installedVersion(python);
  if (have?.aiomsg !== AIOMSG_PY_VERSION) return { error: `bench venv has aiomsg ${have?.aiomsg ?? "missing"}` };
  return { python, aiomsg: have.aiomsg, pythonVersion: have.python };
}
