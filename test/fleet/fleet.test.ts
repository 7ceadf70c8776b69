/**
 * The fleet test (docs/fleet.md): hosts as network namespaces on a bridge
 * (hosts.mjs), a real DNS server (dnsmasq), TS and real Python aiomsg
 * (2026.7.1) replicas as bind ends, each in its own namespace at its own
 * address, and a client (producer.mjs) that follows the service's name with
 * an at-least-once and an at-most-once connect end. Each scenario runs on A
 * records (`connect("tcp://<svc>:25000", { resolve: "all" })`) and on SRV
 * records (`connect("srv://_aiomsg._tcp.<svc>")`):
 * - scale up and down by changing the records while traffic flows;
 * - a rolling restart of every replica, one at a time: out of DNS, SIGTERM
 *   (a TS replica drains; a Python one, which cannot, gets SIGTERM once the
 *   client has drained it, as a preStop hook would), back at a new address;
 * - the name stops resolving (records gone, then the DNS server's link down)
 *   while the set changes, then resolves again.
 * Asserted: no message lost, at-least-once or at-most-once; nothing reported
 * dropped. Measured (printed as "[fleet]" lines, published in docs/fleet.md):
 * duplicates, time until a new replica receives traffic, time until a
 * removed one is drained. Needs root (namespaces) and dnsmasq (provisioned by
 * the test command).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DOMAIN, Fleet, type Proc } from "./hosts.mjs";
import { provisionRelease } from "../../interop/lib/python.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.join(HERE, "../../packages/core/bin/aiomsg-ts.js");
const PORT = 25000;

type Kind = "A" | "SRV";
type Lang = "ts" | "py";

interface Replica {
  name: string;
  lang: Lang;
  ns: string;
  ip: string;
  proc: Proc;
}

const fleet = new Fleet();
let python = "";
let scenarios = 0;
const figures: string[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the fleet test makes network namespaces: run it as root (CI does)");
  const py = await provisionRelease("2026.7.1");
  if (!py.ok) throw new Error(`could not provision Python aiomsg 2026.7.1: ${py.stage}: ${py.error}`);
  python = py.python;
  await fleet.up();
}, 240_000);

afterAll(() => {
  fleet.down();
  if (figures.length > 0) {
    console.log(
      [
        "[fleet] figures (sent, lost and duplicates: at-least-once / at-most-once; join: record change to first message; drain: record removal to the client's connections closed)",
        "| scenario | records | sent | lost | duplicates | join | drain | resends | notes |",
        "|---|---|---|---|---|---|---|---|---|",
        ...figures,
      ].join("\n"),
    );
  }
});

/** One service behind one name: its replicas, its records, its client. */
class Service {
  readonly svc: string;
  readonly subnet: number;
  readonly replicas: Replica[] = [];
  readonly gone: Replica[] = [];
  private hosts = 0;
  producer!: Proc;
  /** Time from a record's change to the first message at a new replica / to the client's drain of a removed one, by replica language. */
  readonly joins: Array<{ lang: Lang; ms: number }> = [];
  readonly drains: Array<{ lang: Lang; ms: number }> = [];
  note = "";

  constructor(
    readonly kind: Kind,
    readonly label: string,
  ) {
    this.subnet = ++scenarios;
    this.svc = `s${this.subnet}.${DOMAIN}`;
  }

  get target(): string {
    return this.kind === "A" ? `tcp://${this.svc}:${PORT}` : `srv://_aiomsg._tcp.${this.svc}`;
  }

  /** A replica in a new namespace at a new address (not yet in DNS). */
  async start(lang: Lang): Promise<Replica> {
    const k = ++this.hosts;
    const name = `r${k}`;
    const ip = `10.77.${this.subnet}.${10 + k}`;
    const ns = fleet.addHost(`s${this.subnet}${name}`, ip);
    const proc =
      lang === "ts"
        ? fleet.spawn(`${this.svc} ${name} (ts)`, ns, process.execPath, [path.join(HERE, "replica.mjs"), String(PORT)])
        : fleet.spawn(`${this.svc} ${name} (py)`, ns, python, [path.join(HERE, "replica.py"), String(PORT)]);
    await proc.event((e) => e.ev === "ready", 20_000, "ready");
    const r = { name, lang, ns, ip, proc };
    this.replicas.push(r);
    return r;
  }

  private records(r: Replica): void {
    const dns = fleet.dns;
    if (this.kind === "A") {
      dns.a.set(this.svc, [...(dns.a.get(this.svc) ?? []), r.ip]);
    } else {
      dns.a.set(`${r.name}.${this.svc}`, [r.ip]);
      dns.srv.push({ service: `_aiomsg._tcp.${this.svc}`, target: `${r.name}.${this.svc}`, port: PORT });
    }
  }

  /** Put replicas in DNS; resolves with the time the server serves them. */
  async publish(...rs: Replica[]): Promise<number> {
    for (const r of rs) this.records(r);
    await fleet.dns.apply(this.kind === "SRV");
    return Date.now();
  }

  /** Take replicas out of DNS; resolves with the time the server stopped serving them. */
  async unpublish(...rs: Replica[]): Promise<number> {
    const dns = fleet.dns;
    for (const r of rs) {
      if (this.kind === "A") dns.a.set(this.svc, (dns.a.get(this.svc) ?? []).filter((a) => a !== r.ip));
      else dns.srv = dns.srv.filter((s: { target: string }) => s.target !== `${r.name}.${this.svc}`);
    }
    await fleet.dns.apply(this.kind === "SRV");
    return Date.now();
  }

  /** Every record of this service out of DNS (the name stops resolving). */
  async unpublishAll(): Promise<void> {
    const dns = fleet.dns;
    dns.a.delete(this.svc);
    dns.srv = dns.srv.filter((s: { service: string }) => s.service !== `_aiomsg._tcp.${this.svc}`);
    await fleet.dns.apply(this.kind === "SRV");
  }

  async client(): Promise<void> {
    const ns = fleet.addHost(`s${this.subnet}cli`, `10.77.${this.subnet}.2`);
    this.producer = fleet.spawn(`${this.svc} client`, ns, process.execPath, [path.join(HERE, "producer.mjs"), this.target, "5"]);
    await this.producer.event((e) => e.ev === "started", 20_000, "the client started");
  }

  /** Wait until `r` receives traffic; for a new replica, records the time from `since` to its first message. */
  async receives(r: Replica, since?: number): Promise<void> {
    const from = r.proc.lines.length;
    await r.proc.until(() => r.proc.lines.length > from + 5, 20_000, `traffic at ${r.name}`);
    if (since !== undefined) this.joins.push({ lang: r.lang, ms: r.proc.firstLineAt! - since });
  }

  /** Wait until the client has drained and closed both its connections to `r`; records the time since `since`. */
  async drained(r: Replica, since: number): Promise<void> {
    const address = `${r.ip}:${PORT}`;
    let last = 0;
    for (const sock of ["a", "m"]) {
      const ev = await this.producer.event(
        (e) => e.ev === "peerDisconnected" && e.sock === sock && e.address === address && e.at >= since - 50,
        20_000,
        `the client's ${sock} socket to drain ${address}`,
      );
      last = Math.max(last, ev.at);
    }
    this.drains.push({ lang: r.lang, ms: last - since });
  }

  /** Stop a replica: TS drains on SIGTERM; wait for its exit and remove its host. */
  async stop(r: Replica): Promise<void> {
    r.proc.signal("SIGTERM");
    const exit = await Promise.race([r.proc.exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 15_000))]);
    expect(exit, `${r.name} (${r.lang}) exits after SIGTERM`).toMatchObject({ code: 0 });
    fleet.removeHost(r.ns);
    this.replicas.splice(this.replicas.indexOf(r), 1);
    this.gone.push(r);
  }

  /** Stop the client (drain), check every message arrived, stop the replicas, record the figures. */
  async finish(): Promise<void> {
    this.producer.send("stop");
    const done = await this.producer.event((e) => e.ev === "done", 30_000, "the client to drain");
    const counts = new Map<string, number>();
    const tally = (): void => {
      counts.clear();
      for (const r of [...this.replicas, ...this.gone]) {
        for (const l of r.proc.lines) if (l.startsWith("g ")) counts.set(l.slice(2), (counts.get(l.slice(2)) ?? 0) + 1);
      }
    };
    const missing = (p: "a" | "m"): string[] => {
      const out: string[] = [];
      for (let i = 0; i < done.sent[p]; i++) if (!counts.has(`${p}${i}`)) out.push(`${p}${i}`);
      return out;
    };
    // Lines may still be on their way through the replicas' pipes.
    const deadline = Date.now() + 10_000;
    for (;;) {
      tally();
      if ((missing("a").length === 0 && missing("m").length === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const r of [...this.replicas]) await this.stop(r);
    let dupA = 0;
    let dupM = 0;
    for (const [id, n] of counts) {
      if (id.startsWith("a")) dupA += n - 1;
      else dupM += n - 1;
    }
    const lostA = missing("a");
    const lostM = missing("m");
    const fmt = (xs: Array<{ lang: Lang; ms: number }>): string => (xs.length === 0 ? "-" : xs.map((x) => `${x.lang} ${x.ms}`).join(", ") + " ms");
    figures.push(
      `| ${this.label} | ${this.kind} | ${done.sent.a} / ${done.sent.m} | ${lostA.length} / ${lostM.length} | ${dupA} / ${dupM} | ${fmt(this.joins)} | ${fmt(this.drains)} | ${done.resends} | ${this.note} |`,
    );
    expect(done.dropped, "nothing reported dropped by the client").toEqual({ a: [], m: [] });
    expect(lostA.slice(0, 20), "at-least-once messages lost").toEqual([]);
    expect(lostM.slice(0, 20), "at-most-once messages lost").toEqual([]);
    const where = (id: string): string =>
      [...this.replicas, ...this.gone]
        .filter((r) => r.proc.lines.includes(`g ${id}`))
        .map((r) => `${r.name}/${r.lang}x${r.proc.lines.filter((l) => l === `g ${id}`).length}`)
        .join(",");
    const dupIds = [...counts].filter(([id, n]) => id.startsWith("m") && n > 1).map(([id]) => `${id}@${where(id)}`);
    expect(dupIds, "at-most-once messages are never received twice").toEqual([]);
  }
}

for (const kind of ["A", "SRV"] as const) {
  describe(`${kind} records`, () => {
    it(`scale up and down by changing the ${kind} records while traffic flows: new replicas get traffic, removed ones are drained, no message lost`, async () => {
      const s = new Service(kind, "scale up 2→4, down 4→2");
      const r1 = await s.start("ts");
      const r2 = await s.start("py");
      await s.publish(r1, r2);
      await s.client();
      await s.receives(r1);
      await s.receives(r2);
      const r3 = await s.start("ts");
      const r4 = await s.start("py");
      const up = await s.publish(r3, r4);
      await Promise.all([s.receives(r3, up), s.receives(r4, up)]);
      const down = await s.unpublish(r1, r2);
      await Promise.all([s.drained(r1, down), s.drained(r2, down)]);
      await s.stop(r1);
      await s.stop(r2);
      await s.receives(r3);
      await s.finish();
    }, 90_000);

    it(`aiomsg-ts ping takes the ${kind === "A" ? "name with --all" : "srv:// name"} and reports every address behind it (exit 0), and a name that does not resolve as ERR_AIOMSG_RESOLVE_FAILED (exit 1)`, async () => {
      const s = new Service(kind, "ping");
      const r1 = await s.start("ts");
      const r2 = await s.start("py");
      await s.publish(r1, r2);
      const ns = fleet.addHost(`s${s.subnet}ping`, `10.77.${s.subnet}.3`);
      const args = kind === "A" ? ["ping", "--all", `${s.svc}:${PORT}`, "--json"] : ["ping", s.target, "--json"];
      const ok = fleet.spawn("ping", ns, process.execPath, [CLI, ...args]);
      expect(await ok.exited).toMatchObject({ code: 0 });
      const results = ok.events.map((e) => ({ address: e.address, target: e.target, dialect: e.dialect }));
      const target = kind === "A" ? `${s.svc}:${PORT}` : s.target;
      expect(results.sort((x, y) => x.address.localeCompare(y.address))).toEqual([
        { address: `${r1.ip}:${PORT}`, target, dialect: "v1" },
        { address: `${r2.ip}:${PORT}`, target, dialect: "v1" },
      ]);
      const missing = kind === "A" ? ["ping", "--all", `nothing.${DOMAIN}:${PORT}`] : ["ping", `srv://_aiomsg._tcp.nothing.${DOMAIN}`];
      const bad = fleet.spawn("ping", ns, process.execPath, [CLI, ...missing]);
      expect(await bad.exited).toMatchObject({ code: 1 });
      expect(bad.stderr).toContain("ERR_AIOMSG_RESOLVE_FAILED");
      await s.unpublishAll();
      for (const r of [...s.replicas]) await s.stop(r);
      fleet.removeHost(ns);
    }, 60_000);

    it(`rolling restart of every bind end on ${kind} records (out of DNS, SIGTERM, back at a new address): no at-least-once or at-most-once message lost`, async () => {
      const s = new Service(kind, "rolling restart of 3");
      const first = [await s.start("ts"), await s.start("py"), await s.start("ts")];
      await s.publish(...first);
      await s.client();
      for (const r of first) await s.receives(r);
      for (const old of first) {
        const out = await s.unpublish(old);
        if (old.lang === "ts") {
          // SIGTERM at once: the replica drains itself while the client follows DNS.
          await s.stop(old);
          await s.drained(old, out);
        } else {
          // Python aiomsg has no drain: SIGTERM once the client has drained it.
          await s.drained(old, out);
          await s.stop(old);
        }
        const fresh = await s.start(old.lang);
        const back = await s.publish(fresh);
        await s.receives(fresh, back);
      }
      await s.finish();
    }, 120_000);

    it(`a name that stops resolving on ${kind} records (records gone, then the DNS server's link down) keeps its last set and traffic, then follows the records again`, async () => {
      const s = new Service(kind, "name unresolvable ~2 s + DNS link down ~2 s");
      const r1 = await s.start("ts");
      const r2 = await s.start("py");
      await s.publish(r1, r2);
      await s.client();
      await s.receives(r1);
      await s.receives(r2);
      // NXDOMAIN: the records are gone.
      const failures = (): number => s.producer.events.filter((e) => e.ev === "resolveFailed").length;
      await s.unpublishAll();
      await s.producer.until(() => failures() >= 2, 15_000, "resolution failures reported");
      const l1 = r1.proc.lines.length;
      const l2 = r2.proc.lines.length;
      await r1.proc.until(() => r1.proc.lines.length > l1 + 20, 10_000, "traffic to r1 while the name fails");
      await r2.proc.until(() => r2.proc.lines.length > l2 + 20, 10_000, "traffic to r2 while the name fails");
      // The DNS server's link goes down (queries time out), and the set changes meanwhile.
      fleet.linkDown(fleet.dns.ns);
      const r3 = await s.start("ts");
      try {
        await s.publish(r1, r2, r3);
        const before = failures();
        await s.producer.until(() => failures() >= before + 2, 15_000, "failures while the DNS server is unreachable");
      } finally {
        fleet.linkUp(fleet.dns.ns);
      }
      const up = Date.now();
      await s.receives(r3, up);
      expect(s.producer.events.filter((e) => e.ev === "peerDraining")).toEqual([]);
      s.note = `${failures()} failed resolutions reported (both sockets), no address dropped meanwhile`;
      await s.finish();
    }, 90_000);
  });
}
