// A fleet of hosts on one Linux machine, for the fleet test (docs/fleet.md):
// network namespaces, each with its own address on 10.77.0.0/16, joined by veth
// pairs to a bridge that lives in a namespace of its own (the "hub"), so that no
// address or interface of the test ever exists outside namespaces it created. A
// real DNS server (dnsmasq from Debian's dnsmasq-base) runs in its own namespace;
// every host's /etc/netns/<ns>/resolv.conf points at it, which `ip netns exec`
// mounts over /etc/resolv.conf. Everything carries the run's prefix
// (aiofl<pid in base 36>-): sweep() removes what a dead run left behind, and
// down() removes this run's namespaces, their resolv.conf directories and
// processes, even after a failure.
//
// Link impairment: this kernel has no sch_netem and there is no iptables/nft, so
// a link is impaired by taking its veth down and up (linkDown/linkUp: packets
// sent meanwhile are lost, TCP retransmits, DNS queries time out).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const PREFIX = "aiofl";
export const DNS_IP = "10.77.0.2";
export const DOMAIN = "fleet.test";

function ip(...args) {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

/** Namespaces of this machine with our prefix. */
function ourNamespaces() {
  return ip("netns", "list")
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n && n.startsWith(PREFIX));
}

/** Kill every process in `ns` (by pid), delete it and its /etc/netns directory. */
function removeNamespace(ns) {
  let pids = [];
  try {
    pids = ip("netns", "pids", ns).split("\n").filter(Boolean).map(Number);
  } catch {
    // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  try {
    ip("netns", "del", ns);
  } catch {
    // already gone
  }
  rmSync(path.join("/etc/netns", ns), { recursive: true, force: true });
}

/** Remove what runs that are no longer alive left behind (namespaces whose owner pid is dead). */
export function sweep() {
  const removed = [];
  for (const ns of ourNamespaces()) {
    const owner = Number.parseInt(ns.slice(PREFIX.length).split("-")[0], 36);
    if (Number.isFinite(owner) && owner !== process.pid && alive(owner)) continue;
    removeNamespace(ns);
    removed.push(ns);
  }
  if (existsSync("/etc/netns")) {
    for (const d of readdirSync("/etc/netns")) {
      if (!d.startsWith(PREFIX)) continue;
      const owner = Number.parseInt(d.slice(PREFIX.length).split("-")[0], 36);
      if (!alive(owner) || owner === process.pid) rmSync(path.join("/etc/netns", d), { recursive: true, force: true });
    }
  }
  return removed;
}

/** A child process in a namespace, its stdout read as lines (JSON when it parses). */
export class Proc {
  constructor(name, ns, cmd, args, env = {}) {
    this.name = name;
    this.lines = [];
    this.events = [];
    this.listeners = new Set();
    this.stderr = "";
    this.child = spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
    this.exited = new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
    let buf = "";
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.onLine(line);
      }
    });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-20_000);
      this.stderrChunks = (this.stderrChunks ?? 0) + 1;
      for (const l of this.listeners) l();
    });
  }

  onLine(line) {
    const at = Date.now();
    if (line.startsWith("{")) {
      try {
        const ev = JSON.parse(line);
        ev.at ??= at;
        this.events.push(ev);
      } catch {
        this.lines.push(line);
      }
    } else {
      this.lines.push(line);
      this.firstLineAt ??= at;
    }
    for (const l of this.listeners) l();
  }

  /** Wait until `pred()` holds (checked on every line), or fail after `ms`. */
  until(pred, ms, what) {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: timed out after ${ms} ms waiting for ${what}\n--- stderr:\n${this.stderr}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      void this.exited.then(() => {
        if (pred()) return;
        done();
        reject(new Error(`${this.name} exited while waiting for ${what}\n--- stderr:\n${this.stderr}`));
      });
    });
  }

  event(pred, ms, what) {
    return this.until(() => this.events.some(pred), ms, what).then(() => this.events.find(pred));
  }

  send(line) {
    this.child.stdin.write(`${line}\n`);
  }

  signal(sig) {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }
}

/**
 * The DNS server: dnsmasq in its own namespace. A records come from a hosts
 * file (`--addn-hosts`), which dnsmasq reads again on SIGHUP; SRV records are
 * `srv-host` lines of its conf file, which SIGHUP does not reread, so an SRV
 * change restarts it (queries meanwhile fail: the client keeps its last set).
 * Every answer carries TTL 1 s (`--local-ttl`).
 */
class DnsServer {
  constructor(fleet, ns, dir) {
    this.fleet = fleet;
    this.ns = ns;
    this.hostsFile = path.join(dir, "hosts");
    this.confFile = path.join(dir, "dnsmasq.conf");
    /** name -> addresses */
    this.a = new Map();
    /** SRV records: { service, target, port } */
    this.srv = [];
    this.proc = undefined;
    this.restarts = 0;
  }

  write() {
    const lines = [];
    for (const [name, addrs] of this.a) for (const a of addrs) lines.push(`${a} ${name}`);
    writeFileSync(this.hostsFile, lines.join("\n") + "\n");
    writeFileSync(
      this.confFile,
      this.srv.map((r) => `srv-host=${r.service},${r.target},${r.port}`).join("\n") + "\n",
    );
  }

  async start() {
    this.write();
    this.proc = new Proc("dnsmasq", this.ns, "dnsmasq", [
      "--keep-in-foreground",
      "--log-facility=-",
      `--conf-file=${this.confFile}`,
      "--no-resolv",
      "--no-hosts",
      `--addn-hosts=${this.hostsFile}`,
      `--listen-address=${DNS_IP}`,
      "--bind-interfaces",
      "--local-ttl=1",
      "--user=root",
      "--pid-file=",
    ]);
    // Its hosts file is read once it has bound its port.
    await this.proc.until(() => this.reads() >= 1, 10_000, "dnsmasq to start");
  }

  /** How many times dnsmasq has read its hosts file (its log says so each time). */
  reads() {
    return this.proc.stderr.split(`read ${this.hostsFile}`).length - 1;
  }

  /** Apply record changes: SIGHUP for A records only, a restart when SRV records changed. */
  async apply(srvChanged) {
    this.write();
    if (!srvChanged) {
      const before = this.reads();
      this.proc.signal("SIGHUP");
      await this.proc.until(() => this.reads() > before, 5000, "dnsmasq rereading its hosts file");
      return;
    }
    this.restarts++;
    this.proc.signal("SIGTERM");
    await this.proc.exited;
    await this.start();
  }
}

export class Fleet {
  constructor() {
    this.id = `${PREFIX}${process.pid.toString(36)}`;
    this.namespaces = [];
    this.procs = [];
    this.nextLink = 0;
    this.dir = mkdtempSync(path.join(tmpdir(), `${this.id}-`));
    this.hub = `${this.id}-hub`;
  }

  /** The hub (a bridge in its own namespace) and the DNS server's host. */
  async up() {
    sweep();
    this.makeNamespace(this.hub);
    ip("-n", this.hub, "link", "add", "br0", "type", "bridge");
    ip("-n", this.hub, "link", "set", "br0", "up");
    const dnsNs = this.addHost("dns", DNS_IP, { resolver: false });
    this.dns = new DnsServer(this, dnsNs, this.dir);
    await this.dns.start();
  }

  makeNamespace(ns) {
    ip("netns", "add", ns);
    this.namespaces.push(ns);
    ip("-n", ns, "link", "set", "lo", "up");
  }

  /** A host: a namespace with `address`/16 on eth0, a veth to the hub, and the fleet's DNS server in its resolv.conf. */
  addHost(role, address, { resolver = true } = {}) {
    const ns = `${this.id}-${role}`;
    this.makeNamespace(ns);
    const hubSide = `h${this.nextLink++}`;
    // Both ends are made inside namespaces (the hub's and the host's): nothing touches the root namespace.
    ip("-n", this.hub, "link", "add", hubSide, "type", "veth", "peer", "name", "eth0", "netns", ns);
    ip("-n", this.hub, "link", "set", hubSide, "master", "br0");
    ip("-n", this.hub, "link", "set", hubSide, "up");
    ip("-n", ns, "addr", "add", `${address}/16`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
    if (resolver) {
      const etc = path.join("/etc/netns", ns);
      // Written before any process starts in the namespace (ip netns exec mounts it then).
      execFileSync("mkdir", ["-p", etc]);
      writeFileSync(path.join(etc, "resolv.conf"), `nameserver ${DNS_IP}\noptions timeout:1 attempts:1\n`);
    }
    return ns;
  }

  /** Take a host's link down (its packets are lost until linkUp). */
  linkDown(ns) {
    ip("-n", ns, "link", "set", "eth0", "down");
  }

  linkUp(ns) {
    ip("-n", ns, "link", "set", "eth0", "up");
  }

  spawn(name, ns, cmd, args, env) {
    const p = new Proc(name, ns, cmd, args, env);
    this.procs.push(p);
    return p;
  }

  /** Remove one host: its processes are killed, its namespace and resolv.conf removed. */
  removeHost(ns) {
    removeNamespace(ns);
    this.namespaces = this.namespaces.filter((n) => n !== ns);
  }

  /** Remove everything this run made (safe to call twice, and after a failure). */
  down() {
    for (const p of this.procs) p.signal("SIGKILL");
    for (const ns of [...this.namespaces].reverse()) removeNamespace(ns);
    this.namespaces = [];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
