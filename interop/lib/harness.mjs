// Process plumbing for the interop scenarios: spawning agents (execa), watching
// their stdout lines and stderr `EVENT` lines, waiting on conditions with
// deadlines (never bare sleeps), free ports, and killing everything afterwards.
//
// An "agent kind" names the program behind an agent:
//   "ts"          bin/aiomsg-ts-agent (aiomsg-ts, this repo)
//   "py:v1"       python/agent.py on aiomsg 2026.7.1
//   "py:legacy"   python/agent.py on aiomsg 2019.12.3
//   "py@<ver>"    python/agent.py on aiomsg <ver> (release matrix, local mode only)
//   "raw"         lib/raw-peer.mjs (hand-made bytes, no aiomsg)
//   "demo"        demo.mjs (the cross-language time-server demo)
// The Env decides how a kind is run: as a local process, or (with --docker) inside
// a docker compose service container sharing the host network.
import { execa } from "execa";
import { EventEmitter } from "node:events";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { randomUUID } from "node:crypto";
import { INTEROP_DIR, releasePython, venvPython } from "./python.mjs";

export const REPO_ROOT = path.resolve(INTEROP_DIR, "..");
const TS_AGENT = path.join(INTEROP_DIR, "bin", "aiomsg-ts-agent");
const PY_AGENT = path.join(INTEROP_DIR, "python", "agent.py");
const RAW_PEER = path.join(INTEROP_DIR, "lib", "raw-peer.mjs");
const DEMO = path.join(INTEROP_DIR, "demo.mjs");

/**
 * docker compose service per agent kind (see docker-compose.yml). The agent is each
 * image's entrypoint; `entrypoint` overrides it (the raw peer runs in the ts image).
 */
const DOCKER_SERVICES = {
  ts: { service: "ts", cmd: [] },
  raw: { service: "ts", entrypoint: "node", cmd: ["/app/interop/lib/raw-peer.mjs"] },
  // The demo runs on the host and starts its Python client in the py-v1 service itself.
  demo: { local: true, extraArgs: ["--docker", "true"] },
  "py:v1": { service: "py-v1", cmd: [] },
  "py:legacy": { service: "py-legacy", cmd: [] },
};

export class ScenarioError extends Error {}

/**
 * Where and how agents run.
 *   mode "local": processes on this machine (venvs from lib/python.mjs).
 *   mode "docker": `docker compose run` per agent (host network, same ports).
 */
export class Env {
  /**
   * @param {{mode?: "local"|"docker", pki?: object, timeScale?: number}} opts
   */
  constructor(opts = {}) {
    this.mode = opts.mode ?? "local";
    this.pki = opts.pki;
    // Deadlines are multiplied by this (containers start slower than processes).
    this.timeScale = opts.timeScale ?? (this.mode === "docker" ? 3 : 1);
    // Harness self-test: run the Python agent wherever a TS agent is asked for, so
    // the scenarios can be validated Python<->Python without aiomsg-ts.
    this.tsAsPython = opts.tsAsPython ?? false;
  }

  /** @returns {{file: string, args: string[], containerName?: string}} */
  command(kind, args) {
    if (kind === "ts" && this.tsAsPython) ({ kind, args } = tsToPython(args));
    const svc = this.mode === "docker" ? DOCKER_SERVICES[kind] : undefined;
    if (svc?.local) return { file: process.execPath, args: [DEMO, ...args, ...svc.extraArgs] };
    if (this.mode === "docker") {
      if (!svc) throw new TypeError(`unknown agent kind ${kind}`);
      const containerName = `aiomsg-interop-${randomUUID().slice(0, 8)}`;
      const volumes = this.pki ? ["-v", `${this.pki.dir}:${this.pki.dir}:ro`] : [];
      return {
        file: "docker",
        args: [
          "compose", "-f", path.join(REPO_ROOT, "docker-compose.yml"), "--profile", "interop",
          "run", "--rm", "-T", "--name", containerName, ...volumes,
          ...(svc.entrypoint ? ["--entrypoint", svc.entrypoint] : []),
          svc.service, ...svc.cmd, ...args,
        ],
        containerName,
      };
    }
    switch (kind) {
      case "ts":
        return { file: process.execPath, args: [TS_AGENT, ...args] };
      case "raw":
        return { file: process.execPath, args: [RAW_PEER, ...args] };
      case "demo":
        return { file: process.execPath, args: [DEMO, ...args] };
      case "py:v1":
        return { file: venvPython("v1"), args: [PY_AGENT, ...args] };
      case "py:legacy":
        return { file: venvPython("legacy"), args: [PY_AGENT, ...args] };
      default:
        // "py@<version>": any aiomsg release (the release compatibility matrix).
        if (kind.startsWith("py@")) return { file: releasePython(kind.slice(3)), args: [PY_AGENT, ...args] };
        throw new TypeError(`unknown agent kind ${kind}`);
    }
  }
}

/** Maps TS-agent flags onto the Python agent (self-test mode): drops TS-only flags. */
function tsToPython(args) {
  const out = [];
  let protocol = "v1";
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === "--protocol") protocol = args[i + 1];
    else if (!args[i].startsWith("--heartbeat-")) out.push(args[i], args[i + 1]);
  }
  return { kind: protocol === "legacy" ? "py:legacy" : "py:v1", args: out };
}

const MAX_STDERR_LINES = 400;

/** One running agent process; collects its output and lets callers wait on it. */
export class Agent extends EventEmitter {
  /** `opts.env`: extra environment variables for the process (e.g. NODE_DEBUG). */
  constructor(env, name, kind, args, opts = {}) {
    super();
    this.setMaxListeners(100);
    this.env = env;
    this.name = name;
    this.kind = kind;
    this.args = args;
    this.lines = []; // stdout lines
    this.events = []; // {name, args, at} from stderr "EVENT ..." lines
    this.stderr = []; // last stderr lines (diagnostics)
    this.exit = null; // {code, signal} once exited
    this.killedByHarness = false;
    this.startedAt = Date.now();

    const { file, args: argv, containerName } = env.command(kind, args);
    this.containerName = containerName;
    this.commandLine = [file, ...argv].join(" ");
    this.proc = execa(file, argv, {
      stdin: "ignore",
      buffer: false,
      reject: false,
      cleanup: true,
      forceKillAfterDelay: false,
      env: { PYTHONUNBUFFERED: "1", ...opts.env },
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      this.lines.push(line);
      this.emit("change");
    });
    createInterface({ input: this.proc.stderr }).on("line", (line) => {
      this.stderr.push(line);
      if (this.stderr.length > MAX_STDERR_LINES) this.stderr.shift();
      if (line.startsWith("EVENT ")) {
        const [, name, ...rest] = line.split(" ");
        this.events.push({ name, args: rest, at: Date.now() });
      }
      this.emit("change");
    });
    this.exited = this.proc.then((result) => {
      this.exit = { code: result.exitCode ?? null, signal: result.signal ?? null };
      this.emit("change");
      return this.exit;
    });
  }

  get pid() {
    return this.proc.pid;
  }

  eventsNamed(name) {
    return this.events.filter((e) => e.name === name);
  }

  /**
   * Resolves once `predicate(this)` is true; rejects at the deadline, or when the
   * process exits (and its output is drained) without the predicate holding.
   */
  waitFor(predicate, { timeoutMs = 10_000, what = "condition" } = {}) {
    const deadline = timeoutMs * this.env.timeScale;
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        let ok;
        try {
          ok = predicate(this);
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve(this);
        } else if (this.exit) {
          done();
          reject(new ScenarioError(`${this.name} exited (${fmtExit(this.exit)}) before: ${what}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.off("change", check);
      };
      timer = setTimeout(() => {
        done();
        reject(new ScenarioError(`${this.name}: timed out after ${deadline} ms waiting for: ${what}`));
      }, deadline);
      this.on("change", check);
      check();
    });
  }

  waitEvent(name, { count = 1, timeoutMs = 10_000 } = {}) {
    return this.waitFor((a) => a.eventsNamed(name).length >= count, {
      timeoutMs,
      what: `${count}x EVENT ${name}`,
    }).then(() => this.eventsNamed(name)[count - 1]);
  }

  waitReady(opts) {
    return this.waitEvent("ready", opts);
  }

  waitLines(n, { timeoutMs = 15_000 } = {}) {
    return this.waitFor((a) => a.lines.length >= n, { timeoutMs, what: `${n} stdout lines` });
  }

  /** Waits for the process to exit; rejects at the deadline. */
  async waitExit({ timeoutMs = 15_000 } = {}) {
    await this.waitFor((a) => a.exit !== null, { timeoutMs, what: "process exit" }).catch((err) => {
      if (this.exit) return;
      throw err;
    });
    return this.exit;
  }

  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT...) to the agent. */
  async signal(sig) {
    if (this.exit) return;
    if (this.containerName) {
      await execa("docker", ["kill", "--signal", sig, this.containerName], { reject: false });
    } else {
      try {
        process.kill(this.pid, sig);
      } catch (err) {
        if (err.code !== "ESRCH") throw err;
      }
    }
  }

  /** Kills the agent for good and waits for it to be gone. */
  async kill() {
    if (this.exit) return;
    this.killedByHarness = true;
    await this.signal("SIGCONT"); // a stopped process must run to die cleanly under docker
    await this.signal("SIGKILL");
    if (this.containerName) {
      await execa("docker", ["rm", "-f", this.containerName], { reject: false });
    }
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  describe() {
    const tail = this.stderr.slice(-25).map((l) => `      | ${l}`).join("\n");
    const out = this.lines.length
      ? `    stdout (first/last lines): ${JSON.stringify(this.lines.slice(0, 3))} … ${JSON.stringify(this.lines.slice(-5))}\n`
      : "";
    return (
      `  [${this.name}] ${this.commandLine}\n` +
      `    exit: ${this.exit ? fmtExit(this.exit) : "running"}${this.killedByHarness ? " (killed by harness)" : ""}; ` +
      `stdout lines: ${this.lines.length}\n` +
      out +
      (tail ? `    stderr tail:\n${tail}\n` : "")
    );
  }
}

function fmtExit(exit) {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

// Ports handed out by this process are never handed out twice.
const usedPorts = new Set();

/** A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!usedPorts.has(port)) {
      usedPorts.add(port);
      return port;
    }
  }
  throw new Error("could not find a free port");
}

/**
 * Builds agent CLI flags (the contract in docs/protocol.md + extensions) from an object.
 * Keys are flag names without dashes; undefined values are left out.
 */
export function flags(obj) {
  const out = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    out.push(`--${k}`, String(v));
  }
  return out;
}

/** Per-scenario context: starts agents, remembers them, cleans up after. */
export class ScenarioContext {
  constructor(env, scenario) {
    this.env = env;
    this.scenario = scenario;
    this.agents = [];
    this.notes = [];
    this.messages = 0;
  }

  get pki() {
    if (!this.env.pki) throw new Error("scenario needs TLS but no PKI was made");
    return this.env.pki;
  }

  /** Starts an agent of `kind` with CLI `args` (array or object for flags()). */
  start(name, kind, args) {
    const argv = Array.isArray(args) ? args : flags(args);
    const agent = new Agent(this.env, name, kind, argv);
    this.agents.push(agent);
    return agent;
  }

  note(text) {
    this.notes.push(text);
  }

  /** Asserts an agent exits by itself with code 0 before the deadline. */
  async expectCleanExit(agent, { timeoutMs = 15_000 } = {}) {
    const exit = await agent.waitExit({ timeoutMs });
    if (exit.code !== 0) {
      throw new ScenarioError(`${agent.name} exited with ${fmtExit(exit)} (expected code 0)`);
    }
  }

  /** Asserts an agent is still running or exited with code 0 (no crash). */
  expectNotCrashed(agent) {
    if (agent.exit && agent.exit.code !== 0 && !agent.killedByHarness) {
      throw new ScenarioError(`${agent.name} crashed: ${fmtExit(agent.exit)}`);
    }
  }

  async cleanup() {
    await Promise.all(this.agents.map((a) => a.kill()));
  }

  describeAgents() {
    return this.agents.map((a) => a.describe()).join("");
  }
}

/**
 * Runs one scenario end to end: context, overall deadline, cleanup.
 * Resolves {name, ok, messages, seconds, notes, error}; never rejects.
 */
export async function runScenario(env, scenario) {
  const ctx = new ScenarioContext(env, scenario);
  const started = Date.now();
  let error = null;
  let timer;
  try {
    const overall = scenario.timeoutMs * env.timeScale;
    await Promise.race([
      scenario.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new ScenarioError(`scenario timed out after ${overall} ms`)),
          overall,
        );
      }),
    ]);
  } catch (err) {
    error = err;
  } finally {
    clearTimeout(timer);
  }
  const details = error ? ctx.describeAgents() : "";
  await ctx.cleanup();
  return {
    name: scenario.name,
    ok: !error,
    messages: ctx.messages,
    seconds: (Date.now() - started) / 1000,
    notes: ctx.notes,
    error: error ? `${error.message ?? error}\n${details}` : null,
  };
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
