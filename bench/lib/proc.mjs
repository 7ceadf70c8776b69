// One bench agent process: spawned by the orchestrator, speaking JSON lines on
// stdout, told to finish by closing its stdin. Every child is tracked so that
// an interrupted run leaves no process behind (ended by pid, never by name).
import { spawn } from "node:child_process";
import readline from "node:readline";

const live = new Set();

function killAll() {
  for (const a of live) a.kill("SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

export class Agent {
  constructor(label, cmd, args, { cwd, env } = {}) {
    this.label = label;
    this.events = [];
    this.waiters = [];
    this.stderr = "";
    this.exitCode = undefined;
    this.child = spawn(cmd, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    this.pid = this.child.pid;
    live.add(this);
    this.child.stdin.on("error", () => {});
    readline.createInterface({ input: this.child.stdout }).on("line", (line) => {
      let ev;
      try {
        ev = JSON.parse(line);
      } catch {
        this.stderr = (this.stderr + `[stdout] ${line}\n`).slice(-4000);
        return;
      }
      this.events.push(ev);
      this.poke();
    });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        live.delete(this);
        this.poke();
        resolve(this.exitCode);
      });
    });
  }

  poke() {
    for (const w of [...this.waiters]) w();
  }

  /** Next event named `ev` (consumed), or an error after `ms` or if the process exits first. */
  waitFor(ev, ms) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.events.findIndex((e) => e.ev === ev);
        if (i >= 0) {
          done();
          resolve(this.events.splice(i, 1)[0]);
        } else if (this.exitCode !== undefined) {
          done();
          reject(new Error(`${this.label} exited (${this.exitCode}) before "${ev}"${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no "${ev}" within ${ms} ms${this.tail()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  tail() {
    const t = this.stderr.trim().split("\n").slice(-6).join("\n    ");
    return t ? `\n    ${t}` : "";
  }

  write(text) {
    this.child.stdin.write(text);
  }

  closeStdin() {
    this.child.stdin.end();
  }

  signal(sig) {
    if (this.exitCode === undefined) this.child.kill(sig);
  }

  kill(sig = "SIGKILL") {
    if (this.exitCode === undefined) this.child.kill(sig);
  }

  /** Wait for a clean exit; SIGKILL after `ms`. */
  async finish(ms = 10_000) {
    const timer = setTimeout(() => this.kill(), ms);
    await this.exited;
    clearTimeout(timer);
  }
}
