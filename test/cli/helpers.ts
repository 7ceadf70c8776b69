/**
 * End-to-end plumbing for the command-line tests: the built `aiomsg-ts`
 * executable and real Python aiomsg agents as separate processes, their output
 * collected line by line, every wait bounded by a deadline.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import * as net from "node:net";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(REPO_ROOT, "packages", "core", "dist", "cli", "main.js");
export const PY_AGENT = path.join(REPO_ROOT, "interop", "python", "agent.py");

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** One child process with its stdout and stderr as lines. */
export class Proc {
  readonly child: ChildProcess;
  readonly out: string[] = [];
  readonly err: string[] = [];
  code: number | null = null;
  signal: NodeJS.Signals | null = null;
  exited = false;
  readonly exit: Promise<void>;

  constructor(readonly label: string, file: string, args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.child = spawn(file, args, {
      cwd: opts.cwd,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1", ...opts.env },
    });
    if (opts.stdin !== undefined) this.child.stdin!.end(opts.stdin);
    createInterface({ input: this.child.stdout! }).on("line", (l) => this.out.push(l));
    createInterface({ input: this.child.stderr! }).on("line", (l) => this.err.push(l));
    this.exit = new Promise((resolve) =>
      this.child.once("close", (code, signal) => {
        this.code = code;
        this.signal = signal;
        this.exited = true;
        resolve();
      }),
    );
  }

  describe(): string {
    return `${this.label} (exit ${this.code ?? this.signal ?? "-"})\n  stdout: ${this.out.slice(-20).join("\n    ")}\n  stderr: ${this.err.slice(-20).join("\n    ")}`;
  }

  async waitOut(pred: (lines: string[]) => boolean, timeoutMs: number, what: string): Promise<void> {
    try {
      await waitFor(() => pred(this.out) || this.exited, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.describe()}`);
    }
    if (!pred(this.out)) throw new Error(`${this.label} exited before ${what}\n${this.describe()}`);
  }

  async waitErr(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    let m: RegExpExecArray | null = null;
    const find = (): boolean => this.err.some((l) => (m = re.exec(l)) !== null);
    try {
      await waitFor(() => find() || this.exited, timeoutMs, `stderr ${re}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.describe()}`);
    }
    if (!find()) throw new Error(`${this.label} exited before stderr matched ${re}\n${this.describe()}`);
    return m!;
  }

  /** Resolves with the exit code; fails at the deadline. */
  async waitExit(timeoutMs: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try {
      await Promise.race([this.exit, deadline]);
    } finally {
      clearTimeout(timer);
    }
    return this.code;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (!this.exited) this.child.kill(signal);
  }
}

/** Kills every process a test started, whatever happened in it. */
export class Procs {
  private readonly all: Proc[] = [];
  add(p: Proc): Proc {
    this.all.push(p);
    return p;
  }
  cli(label: string, args: string[], opts?: { stdin?: string; env?: NodeJS.ProcessEnv }): Proc {
    return this.add(new Proc(label, process.execPath, [CLI, ...args], opts));
  }
  py(label: string, python: string, args: string[]): Proc {
    return this.add(new Proc(label, python, [PY_AGENT, ...args]));
  }
  async killAll(): Promise<void> {
    const list = this.all.splice(0);
    for (const p of list) p.kill();
    await Promise.all(list.map((p) => p.exit));
  }
}

/** Real Python aiomsg (interop/lib/python.mjs): "v1" = 2026.7.1, "legacy" = 2019.12.3; returns the venv's python. */
export async function provisionPython(wire: "v1" | "legacy"): Promise<string> {
  const mod = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "python.mjs")).href)) as {
    provisionPython(wire: string): Promise<string>;
  };
  return mod.provisionPython(wire);
}

/** The port a Python agent bound (its `EVENT ready <port>` line). */
export async function readyPort(p: Proc): Promise<number> {
  const m = await p.waitErr(/^EVENT ready (\d+)/, 20_000);
  return Number(m[1]);
}
