import os from "node:os";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

function cpuModel() {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line) return line.split(":")[1].trim();
  } catch {}
  return os.cpus()[0]?.model ?? "unknown";
}

function gitRev(cwd) {
  try {
    return execFileSync("git", ["describe", "--always", "--dirty"], { cwd, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function pkgVersion(file) {
  try {
    return JSON.parse(readFileSync(file, "utf8")).version;
  } catch {
    return "unknown";
  }
}

export function machineInfo(repoDir, extra = {}) {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    git: gitRev(repoDir),
    loadavg_at_start: os.loadavg().map((x) => +x.toFixed(2)),
    aiomsg_ts: pkgVersion(`${repoDir}/packages/core/package.json`),
    zeromq_js: pkgVersion(`${repoDir}/bench/node_modules/zeromq/package.json`),
    ...extra,
  };
}

/**
 * CPU accounting to tell whether the figures were disturbed: machine-wide busy
 * and steal ticks (/proc/stat) and this process's own + its reaped children's
 * ticks (/proc/self/stat). Linux only; undefined elsewhere.
 */
export function cpuSnapshot() {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = cpu;
    const self = readFileSync("/proc/self/stat", "utf8");
    const f = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    // fields 14..17 of stat (utime stime cutime cstime) are f[11..14] after the comm.
    const own = f[11] + f[12] + f[13] + f[14];
    return { busy: user + nice + system + irq + softirq, steal, own, t: performance.now() };
  } catch {
    return undefined;
  }
}

/** Average cores used by everything but this bench between two snapshots, and steal. */
export function otherLoad(a, b) {
  if (!a || !b) return undefined;
  const hz = 100; // USER_HZ on Linux
  const secs = (b.t - a.t) / 1000;
  return {
    other_cores: +Math.max(0, (b.busy - a.busy - (b.own - a.own)) / hz / secs).toFixed(2),
    steal_cores: +((b.steal - a.steal) / hz / secs).toFixed(2),
  };
}
