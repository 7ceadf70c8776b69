/**
 * Following a name's replicas and draining, on loopback (docs/fleet.md):
 * connect() with resolve "all" and srv:// over a resolver whose records the
 * test changes (the real DNS server is in test/fleet/), per-address drains
 * when an address leaves, the last good set kept while the name fails, one
 * connection for one replica at two addresses, and drain() on a bind end
 * whose connect ends move their traffic to the other bind end.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { AiomsgError, DnsResolver, DroppedMessage, PeerInfo, Socket, SocketOptions } from "../src/index.js";
import { RawPeer, cleanupRegistry, rawServer, waitFor } from "./helpers.js";

const { sock } = cleanupRegistry(afterEach);

/** A resolver over records the test edits; `fail` makes every question fail as a DNS server that stopped answering. */
class Records implements DnsResolver {
  a: string[] = [];
  aaaa: string[] = [];
  srv: Array<{ name: string; port: number }> = [];
  ttl = 1;
  fail: string | undefined = undefined;
  asked = 0;
  private answer<T>(list: T[]): Promise<T[]> {
    this.asked++;
    if (this.fail !== undefined) return Promise.reject(Object.assign(new Error(`queryA ${this.fail}`), { code: this.fail }));
    if (list.length === 0) return Promise.reject(Object.assign(new Error("queryA ENODATA"), { code: "ENODATA" }));
    return Promise.resolve(list);
  }
  resolve4 = ((_name: string) => this.answer(this.a.map((address) => ({ address, ttl: this.ttl })))) as DnsResolver["resolve4"];
  resolve6 = ((_name: string) => this.answer(this.aaaa.map((address) => ({ address, ttl: this.ttl })))) as DnsResolver["resolve6"];
  resolveSrv = ((_name: string) => this.answer(this.srv.map((r) => ({ ...r, priority: 0, weight: 0 })))) as DnsResolver["resolveSrv"];
}

const FAST = { min: 50, max: 200, jitter: 0.1 };

/** A TS bind end on `host` (port 0: its own free port) that records what it receives. */
async function replica(host: string, port: number, opts: SocketOptions = {}): Promise<{ s: Socket; got: string[] }> {
  const s = sock({ heartbeatInterval: 500, heartbeatTimeout: 3000, ...opts });
  await s.bind(host, port);
  const got: string[] = [];
  void (async () => {
    for await (const m of s) got.push(m.toString());
  })();
  return { s, got };
}

async function freePort(): Promise<number> {
  const probe = sock();
  await probe.bind("127.0.0.1", 0);
  const port = probe.port!;
  await probe.close({ linger: 0 });
  return port;
}

describe("connect() following a name", () => {
  it('resolve "all": one connection per A record; an address that leaves is drained (peerDraining names target and address) and its at-least-once messages are not lost', async () => {
    const port = await freePort();
    const reps = [await replica("127.0.0.1", port), await replica("127.0.0.2", port), await replica("127.0.0.3", port)];
    const dns = new Records();
    dns.a = ["127.0.0.1", "127.0.0.2"];
    const client = sock({ deliveryGuarantee: "at-least-once", resendInterval: 300 });
    const draining: PeerInfo[] = [];
    client.on("peerDraining", (p) => draining.push(p));
    await client.connect(`tcp://svc.test:${port}`, { resolve: "all", resolver: dns, refresh: FAST });
    await waitFor(() => client.peerCount === 2, 5000, "two replicas");
    const sent: string[] = [];
    const sendSome = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const m = `m${sent.length}`;
        sent.push(m);
        await client.send(m);
      }
    };
    await sendSome(40);
    dns.a = ["127.0.0.2", "127.0.0.3"];
    await waitFor(() => client.stats().peers.some((p) => p.address === `127.0.0.3:${port}`), 5000, "the new replica");
    await sendSome(40);
    await waitFor(() => draining.length === 1, 5000, "the removed replica draining");
    expect(draining[0]).toMatchObject({ target: `svc.test:${port}`, address: `127.0.0.1:${port}` });
    await waitFor(() => client.stats().targets[0]!.draining.length === 0 && client.peerCount === 2, 5000, "the drain to finish");
    await sendSome(40);
    const all = (): string[] => reps.flatMap((r) => r.got);
    await waitFor(() => new Set(all()).size === sent.length, 5000, "every message");
    expect(reps[2]!.got.length).toBeGreaterThan(0);
    expect(client.stats().targets[0]).toMatchObject({ addresses: [`127.0.0.2:${port}`, `127.0.0.3:${port}`], failures: 0 });
    expect(client.stats().dropped).toEqual({});
  });

  it("a name that stops resolving: ERR_AIOMSG_RESOLVE_FAILED with backoff, the last good set kept and still used, then followed again", async () => {
    const port = await freePort();
    const reps = [await replica("127.0.0.1", port), await replica("127.0.0.2", port)];
    const dns = new Records();
    dns.a = ["127.0.0.1", "127.0.0.2"];
    const client = sock();
    const errors: AiomsgError[] = [];
    client.on("error", (e) => errors.push(e));
    await client.connect(`tcp://svc.test:${port}`, { resolve: "all", resolver: dns, refresh: FAST });
    await waitFor(() => client.peerCount === 2, 5000, "two replicas");
    dns.fail = "ESERVFAIL";
    await waitFor(() => errors.filter((e) => e.code === "ERR_AIOMSG_RESOLVE_FAILED").length >= 3, 5000, "three failures");
    const failure = errors.find((e) => e.code === "ERR_AIOMSG_RESOLVE_FAILED")!;
    expect(failure.message).toContain("ESERVFAIL");
    expect(failure.message).toContain("keeping the last 2 addresses");
    expect(client.stats().targets[0]).toMatchObject({ addresses: [`127.0.0.1:${port}`, `127.0.0.2:${port}`] });
    expect(client.stats().targets[0]!.failures).toBeGreaterThanOrEqual(3);
    expect(client.peerCount).toBe(2);
    for (let i = 0; i < 10; i++) await client.send(`x${i}`);
    await waitFor(() => reps[0]!.got.length + reps[1]!.got.length === 10, 5000, "sends while failing");
    // An empty answer is a failure too (a set is never emptied by DNS).
    dns.fail = undefined;
    dns.a = [];
    const before = client.stats().targets[0]!.failures;
    await waitFor(() => client.stats().targets[0]!.failures > before, 5000, "an empty answer counted as a failure");
    expect(client.peerCount).toBe(2);
    dns.a = ["127.0.0.2"];
    await waitFor(() => client.stats().targets[0]!.failures === 0 && client.peerCount === 1, 5000, "followed again");
  });

  it("srv://: one connection per SRV record's address and port, followed as records change", async () => {
    const reps = [await replica("127.0.0.1", 0), await replica("127.0.0.1", 0)];
    const dns = new Records();
    dns.a = ["127.0.0.1"];
    dns.srv = [{ name: "r0.svc.test", port: reps[0]!.s.port! }];
    const client = sock();
    const resolved: string[][] = [];
    client.on("resolved", (e) => resolved.push(e.addresses));
    await client.connect("srv://_aiomsg._tcp.svc.test", { resolver: dns, refresh: FAST, family: 4 });
    await waitFor(() => client.peerCount === 1, 5000, "one replica");
    dns.srv = [
      { name: "r0.svc.test", port: reps[0]!.s.port! },
      { name: "r1.svc.test", port: reps[1]!.s.port! },
    ];
    await waitFor(() => client.peerCount === 2, 5000, "two replicas");
    expect(client.stats().peers.map((p) => p.target)).toEqual(["srv://_aiomsg._tcp.svc.test", "srv://_aiomsg._tcp.svc.test"]);
    expect(resolved.at(-1)!.sort()).toEqual([`127.0.0.1:${reps[0]!.s.port}`, `127.0.0.1:${reps[1]!.s.port}`].sort());
    for (let i = 0; i < 10; i++) await client.send(`s${i}`);
    await waitFor(() => reps[0]!.got.length === 5 && reps[1]!.got.length === 5, 5000, "round-robin over both");
  });

  it("one replica at an IPv4 and an IPv6 address: one connection, the other address parked (not redialled) until the set changes", async () => {
    const port = await freePort();
    const rep = sock();
    await rep.bind(["127.0.0.1", "::1"], port);
    const dns = new Records();
    dns.a = ["127.0.0.1"];
    dns.aaaa = ["::1"];
    const client = sock();
    let dials = 0;
    client.on("connecting", () => dials++);
    client.on("reconnecting", () => dials++);
    await client.connect(`tcp://svc.test:${port}`, { resolve: "all", resolver: dns, refresh: FAST });
    // Parking and the kept connection's handshake finish in either order: wait for both.
    await waitFor(() => client.stats().targets[0]!.parked.length === 1 && client.peerCount === 1 && rep.peerCount === 1, 5000, "one address parked, one connection open");
    expect(client.stats().targets[0]!.parked.length).toBe(1);
    expect(client.peerCount).toBe(1);
    expect(rep.peerCount).toBe(1);
    const asked = dns.asked;
    const dialsThen = dials;
    // Several resolutions later, still parked, no dial since.
    await waitFor(() => dns.asked >= asked + 8, 5000, "four more resolutions");
    expect(dials).toBe(dialsThen);
    expect(client.stats().targets[0]!.parked.length).toBe(1);
    expect(client.peerCount).toBe(1);
    // The connected address leaves: the parked one takes over.
    const connected = client.stats().peers[0]!.address!;
    if (connected.startsWith("[")) dns.aaaa = [];
    else dns.a = [];
    await waitFor(() => client.peerCount === 1 && client.stats().peers[0]!.address !== connected, 5000, "the other address connected");
  });

  it("connect() refuses a bad resolve, family or refresh, and srv:// with a port, with ERR_AIOMSG_INVALID_OPTION", async () => {
    const client = sock();
    await expect(client.connect("tcp://svc:1", { resolve: "each" as "all" })).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    await expect(client.connect("tcp://svc:1", { resolve: "all", family: 5 as 4 })).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    await expect(client.connect("tcp://svc:1", { resolve: "all", refresh: { min: 10, max: 5 } })).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    await expect(client.connect("srv://_a._tcp.svc:25000")).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
  });
});

/** A raw v1 bind end that greets after the peer's HELLO and never acknowledges anything. */
async function silentBindEnd(): Promise<{ port: number; peer: () => Promise<RawPeer>; close(): void }> {
  const server = await rawServer();
  let greeted: Promise<RawPeer> | undefined;
  return {
    port: server.port,
    peer: () =>
      (greeted ??= (async () => {
        const p = await server.next();
        await p.waitFrames(1);
        p.frame(Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(16, 0x5a)]));
        return p;
      })()),
    close: () => server.close(),
  };
}

describe("draining what a peer does not acknowledge", () => {
  it("an address that leaves while its peer acknowledges nothing: after linger its messages go to the other replica, then it is half-closed; nothing dropped", async () => {
    const silent = await silentBindEnd();
    const ts = await replica("127.0.0.1", 0);
    const dns = new Records();
    dns.a = ["127.0.0.1"];
    dns.srv = [
      { name: "silent.svc.test", port: silent.port },
      { name: "ts.svc.test", port: ts.s.port! },
    ];
    const client = sock({ deliveryGuarantee: "at-least-once", resendInterval: 60_000, linger: 300 });
    await client.connect("srv://_aiomsg._tcp.svc.test", { resolver: dns, refresh: FAST, family: 4 });
    const raw = await silent.peer();
    await waitFor(() => client.peerCount === 2, 5000, "both replicas");
    for (let i = 0; i < 20; i++) await client.send(`u${i}`);
    await waitFor(() => ts.got.length === 10 && raw.frames.length >= 11, 5000, "an even share each");
    await waitFor(() => client.stats().unacknowledged === 10, 5000, "the other replica's ACKs (the silent one's 10 outstanding)");
    dns.srv = [{ name: "ts.svc.test", port: ts.s.port! }];
    await waitFor(() => new Set(ts.got).size === 20, 5000, "the silent replica's messages moved to the other one");
    await raw.waitClosed();
    await waitFor(() => client.stats().unacknowledged === 0, 5000, "everything acknowledged");
    expect(client.stats().resends).toBe(10);
    expect(client.stats().dropped).toEqual({});
    silent.close();
  });

  it("drain() reports what its peer never acknowledged as dropped with ERR_AIOMSG_CLOSE_LINGER at its deadline", async () => {
    const silent = await silentBindEnd();
    const client = sock({ deliveryGuarantee: "at-least-once", resendInterval: 60_000 });
    const dropped: DroppedMessage[] = [];
    client.on("dropped", (d) => dropped.push(d));
    await client.connect("127.0.0.1", silent.port);
    const raw = await silent.peer();
    await waitFor(() => client.peerCount === 1, 5000, "the peer");
    for (let i = 0; i < 5; i++) await client.send(`n${i}`);
    await raw.waitFrames(6);
    await client.drain({ timeout: 300 });
    expect(dropped.map((d) => [d.code, d.payload.toString()])).toEqual(Array.from({ length: 5 }, (_, i) => ["ERR_AIOMSG_CLOSE_LINGER", `n${i}`]));
    silent.close();
  });
});

describe("drain()", () => {
  it("a bind end drains while connect ends send at-least-once: everything it accepted is acknowledged, the connect ends move to the other bind end, nothing is lost", async () => {
    const a = await replica("127.0.0.1", 0);
    const b = await replica("127.0.0.1", 0);
    const clients: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const c = sock({ deliveryGuarantee: "at-least-once", resendInterval: 500 });
      await c.connect("127.0.0.1", a.s.port!);
      await c.connect("127.0.0.1", b.s.port!);
      clients.push(c);
    }
    await waitFor(() => clients.every((c) => c.peerCount === 2), 5000, "clients on both bind ends");
    const sent: string[] = [];
    let stop = false;
    const pumps = clients.map(async (c, ci) => {
      for (let i = 0; !stop; i++) {
        const m = `c${ci}-${i}`;
        sent.push(m);
        await c.send(m);
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    await waitFor(() => a.got.length > 100, 5000, "traffic on a");
    const aStats = () => a.s.stats();
    await a.s.drain({ timeout: 3000 });
    expect(aStats().dropped).toEqual({});
    await waitFor(() => clients.every((c) => c.peerCount === 1), 5000, "clients left with b only");
    const bBefore = b.got.length;
    await waitFor(() => b.got.length > bBefore + 100, 5000, "traffic moved to b");
    stop = true;
    await Promise.all(pumps);
    await waitFor(() => clients.every((c) => c.stats().unacknowledged === 0), 5000, "every message acknowledged");
    const got = new Set([...a.got, ...b.got]);
    expect(sent.filter((m) => !got.has(m))).toEqual([]);
    for (const c of clients) expect(c.stats().dropped).toEqual({});
  });

  it("drain() on a connect end flushes what send() accepted before any peer was there, waits for the ACKs, and refuses new sends", async () => {
    const client = sock({ deliveryGuarantee: "at-least-once" });
    const port = await freePort();
    await client.connect("127.0.0.1", port);
    for (let i = 0; i < 20; i++) await client.send(`q${i}`);
    const rep = await replica("127.0.0.1", port);
    await waitFor(() => client.peerCount === 1, 5000, "the peer");
    const done = client.drain({ timeout: 5000 });
    await expect(client.send("late")).rejects.toMatchObject({ code: "ERR_AIOMSG_SOCKET_CLOSED" });
    await done;
    expect(client.stats().dropped).toEqual({});
    await waitFor(() => rep.got.length >= 20, 5000, "the queued messages");
    expect(rep.got).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`));
  });

  it("drain() reads until the peer has finished: what the peer had already sent arrives after this end's half-close", async () => {
    const server = await replica("127.0.0.1", 0);
    const client = sock();
    await client.connect("127.0.0.1", server.s.port!);
    await waitFor(() => server.s.peerCount === 1 && client.peerCount === 1, 5000, "the peer");
    // A burst in flight from the client as the server drains (at-most-once: nothing would resend it).
    const burst = Array.from({ length: 2000 }, (_, i) => `b${i}`);
    for (const m of burst) void client.send(m);
    await server.s.drain({ timeout: 3000 });
    await waitFor(() => server.got.length >= burst.length, 5000, "the burst read");
    expect(server.got).toEqual(burst);
    await waitFor(() => client.peerCount === 0, 5000, "the client saw it go");
    expect(client.stats().dropped).toEqual({});
  });
});
