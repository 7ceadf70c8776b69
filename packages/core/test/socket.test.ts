/** Loopback TS<->TS behaviour, with short intervals instead of real timeouts. */
import { afterEach, describe, expect, it } from "vitest";
import { once } from "node:events";
import { AiomsgError, type DroppedMessage, Socket, type SocketOptions, UsageError } from "../src/index.js";
import { RawPeer, cleanupRegistry, encodeFrameHex, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

async function bound(opts: SocketOptions = {}): Promise<Socket> {
  const s = sock(opts);
  await s.bind("127.0.0.1", 0);
  return s;
}

async function connected(server: Socket, opts: SocketOptions = {}): Promise<Socket> {
  const s = sock(opts);
  const seen = once(s, "peerConnected");
  await s.connect("127.0.0.1", server.port!);
  await seen;
  return s;
}

async function recvN(s: Socket, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await s.recv()).toString());
  return out;
}

const range = (n: number, p = "m"): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

describe("routing", () => {
  it("publish: every connected peer gets every message", async () => {
    const server = await bound({ sendMode: "publish" });
    const peers = [await connected(server), await connected(server), await connected(server)];
    await waitFor(() => server.peerCount === 3);
    for (const m of range(50)) await server.send(m);
    for (const p of peers) expect(await recvN(p, 50)).toEqual(range(50));
  });

  it("round-robin: peers get the messages in turn, an even share each", async () => {
    const server = await bound();
    const peers = [await connected(server), await connected(server), await connected(server)];
    await waitFor(() => server.peerCount === 3);
    for (const m of range(30)) await server.send(m);
    const got = await Promise.all(peers.map((p) => recvN(p, 10)));
    expect(got.flat().sort()).toEqual(range(30).sort());
    for (const g of got) {
      // In turn: each peer's messages are 3 apart.
      const idx = g.map((m) => Number(m.slice(1)));
      for (let i = 1; i < idx.length; i++) expect(idx[i]! - idx[i - 1]!).toBe(3);
    }
  });

  it("by identity: only the named peer gets it, whatever the mode", async () => {
    const server = await bound({ sendMode: "publish" });
    const a = await connected(server);
    const b = await connected(server);
    await waitFor(() => server.peerCount === 2);
    await server.send("for-b", { identity: b.identity });
    await server.send("everyone");
    expect(await recvN(b, 2)).toEqual(["for-b", "everyone"]);
    expect(await recvN(a, 1)).toEqual(["everyone"]);
  });

  it("one merged receive stream, tagged with each sender", async () => {
    const server = await bound();
    const a = await connected(server);
    const b = await connected(server);
    await a.send("from-a");
    await b.send("from-b");
    const got = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const [id, m] = await server.recvIdentity();
      got.set(id.toString("hex"), m.toString());
    }
    expect(got.get(a.identity.toString("hex"))).toBe("from-a");
    expect(got.get(b.identity.toString("hex"))).toBe("from-b");
  });

  it("a send to an identity that is not connected is reported as dropped", async () => {
    const server = await bound();
    const dropped = once(server, "dropped");
    await server.send("nobody", { identity: Buffer.alloc(16, 7) });
    const [d] = await dropped;
    expect(d.code).toBe("ERR_AIOMSG_NOT_CONNECTED");
    expect(d.payload.toString()).toBe("nobody");
  });

  it("a dropped message sent as a plain Uint8Array is reported as a Buffer of the same bytes", async () => {
    const server = await bound();
    const dropped = once(server, "dropped");
    const bytes = new Uint8Array([1, 2, 3, 250]);
    await server.send(bytes, { identity: Buffer.alloc(16, 7) });
    const [d] = await dropped;
    expect(Buffer.isBuffer(d.payload)).toBe(true);
    expect([...d.payload]).toEqual([1, 2, 3, 250]);
  });

  it("iterates with for await, identityMessages() and string/json/msgpack helpers", async () => {
    const server = await bound();
    const client = await connected(server);
    await client.sendString("s");
    await client.sendJson({ a: [1, 2] });
    await client.sendMsgpack({ b: true });
    expect(await server.recvString()).toBe("s");
    expect(await server.recvJson()).toEqual({ a: [1, 2] });
    expect(await server.recvMsgpack()).toEqual({ b: true });
    for (const m of range(3)) await client.send(m);
    const seen: string[] = [];
    for await (const m of server) {
      seen.push(m.toString());
      if (seen.length === 2) break;
    }
    for await (const [id, m] of server.identityMessages()) {
      expect(id.equals(client.identity)).toBe(true);
      seen.push(m.toString());
      break;
    }
    expect(seen).toEqual(range(3));
  });
});

describe("buffering and reconnection", () => {
  it("buffers while no peer is connected and flushes in send order", async () => {
    const server = await bound();
    for (const m of range(100)) await server.send(m);
    const client = await connected(server);
    expect(await recvN(client, 100)).toEqual(range(100));
  });

  it("the connect end buffers across a reconnect and reconnects after reconnectionDelay", async () => {
    const first = new Socket();
    await first.bind("127.0.0.1", 0);
    const port = first.port!;
    let delays = 0;
    const client = sock({ reconnectionDelay: () => (delays++, 20) });
    await client.connect("127.0.0.1", port);
    await waitFor(() => client.peerCount === 1);
    await client.send("before");
    expect((await first.recv()).toString()).toBe("before");
    const lost = once(client, "peerDisconnected");
    await first.close({ linger: 0 });
    await lost;
    for (const m of range(20)) await client.send(m);
    const second = sock();
    await second.bind("127.0.0.1", port);
    expect(await recvN(second, 20)).toEqual(range(20));
    expect(delays).toBeGreaterThanOrEqual(1);
  });

  it("a peer that goes away and comes back keeps its identity", async () => {
    const server = await bound();
    const id = Buffer.alloc(16, 0x42);
    const c1 = new Socket({ identity: id });
    await c1.connect("127.0.0.1", server.port!);
    await waitFor(() => server.peerCount === 1);
    await c1.close({ linger: 0 });
    await waitFor(() => server.peerCount === 0);
    const c2 = await connected(server, { identity: id });
    await c2.send("again");
    const [from] = await server.recvIdentity();
    expect(from.equals(id)).toBe(true);
  });
});

describe("heartbeats", () => {
  it("sends a heartbeat after heartbeatInterval of send-idle", async () => {
    const server = await bound({ heartbeatInterval: 100 });
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.frame("0101" + "cc".repeat(16));
    const frames = await raw.waitFrames(3); // HELLO + 2 heartbeats
    expect(frames.slice(1, 3).map((f) => f.toString("hex"))).toEqual(["02", "02"]);
  });

  it("tears a connection down after heartbeatTimeout of receive-silence", async () => {
    const server = await bound({ heartbeatTimeout: 300, heartbeatInterval: 100 });
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await RawPeer.connect(server.port!);
    raw.frame("0101" + "cc".repeat(16));
    const [info] = await once(server, "peerDisconnected");
    expect(info.reason?.code).toBe("ERR_AIOMSG_HEARTBEAT_TIMEOUT");
    await raw.waitClosed();
    expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_HEARTBEAT_TIMEOUT");
  });

  it("heartbeats keep an idle TS pair alive past the timeout", async () => {
    const opts = { heartbeatInterval: 50, heartbeatTimeout: 250 };
    const server = await bound(opts);
    const client = await connected(server, opts);
    let drops = 0;
    client.on("peerDisconnected", () => drops++);
    // Idle for well past the timeout, measured by heartbeats seen rather than a sleep:
    // a raw observer answers each heartbeat so that it stays connected too.
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.frame("0101" + "dd".repeat(16));
    raw.sock.on("data", () => raw.frame("02"));
    await waitFor(() => raw.frames.length >= 20, 5000, "20 heartbeats at the raw observer");
    expect(drops).toBe(0);
    await client.send("still-here");
    expect((await server.recv()).toString()).toBe("still-here");
  });
});

describe("at-least-once", () => {
  it("with publish (as Python): a published message goes to every peer as DATA and nothing waits for an ACK; a send by identity goes as DATA_REQ and is resent until acknowledged", async () => {
    const server = await bound({ sendMode: "publish", deliveryGuarantee: "at-least-once", resendInterval: 50, maxResends: 100 });
    const a = await RawPeer.connect(server.port!);
    const b = await RawPeer.connect(server.port!);
    track(() => a.destroy());
    track(() => b.destroy());
    a.frame("0101" + "aa".repeat(16));
    b.frame("0101" + "bb".repeat(16));
    await waitFor(() => server.peerCount === 2);
    await server.send("to-all");
    await a.waitFrames(2);
    await b.waitFrames(2);
    expect([a.frames[1]!.toString("hex"), b.frames[1]!.toString("hex")]).toEqual([
      "03" + Buffer.from("to-all").toString("hex"),
      "03" + Buffer.from("to-all").toString("hex"),
    ]);
    expect(server.stats().unacknowledged, "a published message is not held for an ACK").toBe(0);
    await server.send("to-a", { identity: Buffer.alloc(16, 0xaa) });
    // Not acknowledged: sent, then resent at resendInterval with the same id.
    await waitFor(() => a.frames.filter((f) => f[0] === 0x04).length >= 2, 5000, "the request and one resend");
    const reqs = a.frames.filter((f) => f[0] === 0x04);
    expect(reqs[0]!.subarray(17).toString()).toBe("to-a");
    expect(reqs[1]!.equals(reqs[0]!), "a resend carries the same msg id").toBe(true);
    expect(b.frames.some((f) => f[0] === 0x04), "the other peer gets nothing of it").toBe(false);
    // The ACK settles it: nothing pending, no more resends.
    a.frame("05" + reqs[0]!.subarray(1, 17).toString("hex"));
    await waitFor(() => server.stats().unacknowledged === 0, 5000, "the ACK settles the message");
    const dropped: unknown[] = [];
    server.on("dropped", (d) => dropped.push(d));
    await server.close({ linger: 1000 });
    expect(dropped).toEqual([]);
  });

  for (const retries of [1, 0]) {
    it(`send({ retries: ${retries} }) sends that message ${retries + 1} time${retries ? "s" : ""}, then reports it dropped (ERR_AIOMSG_RETRIES_EXHAUSTED), whatever maxResends says`, async () => {
      const server = await bound({ deliveryGuarantee: "at-least-once", resendInterval: 40, maxResends: 50 });
      const raw = await RawPeer.connect(server.port!);
      track(() => raw.destroy());
      raw.frame("0101" + "cc".repeat(16));
      await waitFor(() => server.peerCount === 1);
      const dropped = once(server, "dropped");
      await server.send(`retries-${retries}`, { retries });
      const [d] = await dropped;
      expect([d.code, d.payload.toString()]).toEqual(["ERR_AIOMSG_RETRIES_EXHAUSTED", `retries-${retries}`]);
      expect(raw.frames.filter((f) => f[0] === 0x04)).toHaveLength(retries + 1); // the send and its resends
    });
  }

  it("send() retries is refused at the call on an at-most-once socket, and when it is not a whole number of 0 or more", async () => {
    const amo = await bound();
    await expect(amo.send("x", { retries: 1 })).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    const alo = await bound({ deliveryGuarantee: "at-least-once" });
    for (const bad of [-1, 1.5, Number.NaN]) {
      await expect(alo.send("x", { retries: bad })).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    }
  });

  it("delivers TS->TS with acknowledgements and leaves nothing pending", async () => {
    const server = await bound();
    const client = await connected(server, { deliveryGuarantee: "at-least-once" });
    for (const m of range(200)) await client.send(m);
    expect(await recvN(server, 200)).toEqual(range(200));
    const dropped: unknown[] = [];
    client.on("dropped", (d) => dropped.push(d));
    await client.close({ linger: 3000 });
    expect(dropped).toEqual([]);
  });

  it("resends every resendInterval, maxResends times, then reports the drop", async () => {
    const server = await bound({ deliveryGuarantee: "at-least-once", resendInterval: 50, maxResends: 3 });
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.frame("0101" + "cc".repeat(16));
    await waitFor(() => server.peerCount === 1);
    const dropped = once(server, "dropped");
    await server.send("never-acked");
    const [d] = await dropped;
    expect(d.code).toBe("ERR_AIOMSG_RETRIES_EXHAUSTED");
    const reqs = raw.frames.filter((f) => f[0] === 0x04);
    expect(reqs).toHaveLength(4); // the send and 3 resends
    expect(new Set(reqs.map((f) => f.subarray(17).toString()))).toEqual(new Set(["never-acked"]));
  });

  it("resends at once, to another peer, what a lost connection left unacknowledged", async () => {
    const server = await bound({ deliveryGuarantee: "at-least-once", resendInterval: 60_000 });
    const raw = await RawPeer.connect(server.port!);
    raw.frame("0101" + "cc".repeat(16));
    await waitFor(() => server.peerCount === 1);
    await server.send("precious");
    await raw.waitFrames(2);
    raw.destroy(); // never acknowledged
    await waitFor(() => server.peerCount === 0);
    const client = await connected(server);
    expect((await client.recv()).toString()).toBe("precious");
  });
});

describe("bad input", () => {
  const cases: Array<[string, string, string]> = [
    ["oversized length prefix first", "00ffffff", "ERR_AIOMSG_FRAME_TOO_LARGE"],
    ["0xFFFFFFFF length prefix after HELLO", encodeFrameHex("0101" + "cc".repeat(16)) + "ffffffff", "ERR_AIOMSG_FRAME_TOO_LARGE"],
    ["wrong HELLO version", encodeFrameHex("0102" + "cc".repeat(16)), "ERR_AIOMSG_BAD_VERSION"],
    ["short HELLO", encodeFrameHex("0101cccc"), "ERR_AIOMSG_BAD_HELLO"],
    ["non-HELLO first frame", encodeFrameHex("0368656c6c6f"), "ERR_AIOMSG_NO_HELLO"],
    ["garbage", "fe5a3bc10077", "ERR_AIOMSG_UNKNOWN_DIALECT"],
    ["an HTTP request that is not a WebSocket upgrade", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n").toString("hex"), "ERR_AIOMSG_WEBSOCKET"],
    ["a DATA_REQ too short for its msg id", encodeFrameHex("0101" + "cc".repeat(16)) + encodeFrameHex("04" + "ab".repeat(10)), "ERR_AIOMSG_MALFORMED"],
    ["a frame cut by EOF", encodeFrameHex("0101" + "cc".repeat(16)) + "0000000a0368", "ERR_AIOMSG_TRUNCATED_FRAME"],
  ];

  for (const [what, bytes, code] of cases) {
    it(`${what}: closes that connection with ${code}; the good peer loses nothing`, async () => {
      const server = await bound({ maxFrameSize: 1 << 20 });
      const errors: AiomsgError[] = [];
      server.on("error", (e) => errors.push(e));
      const good = await connected(server);
      await good.send("g0");
      const raw = await RawPeer.connect(server.port!);
      raw.write(bytes);
      if (code === "ERR_AIOMSG_TRUNCATED_FRAME") raw.sock.end();
      await raw.waitClosed();
      await waitFor(() => errors.some((e) => e.code === code), 2000, code);
      for (const m of range(20, "g")) if (m !== "g0") await good.send(m);
      expect(await recvN(server, 20)).toEqual(range(20, "g"));
      await server.send("back");
      expect((await good.recv()).toString()).toBe("back");
    });
  }

  it("refuses a duplicate identity and keeps the first connection", async () => {
    const server = await bound();
    const id = Buffer.alloc(16, 0x11);
    const first = await connected(server, { identity: id });
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await RawPeer.connect(server.port!);
    raw.frame("0101" + id.toString("hex"));
    await raw.waitClosed();
    expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_DUPLICATE_IDENTITY");
    await server.send("still-first");
    expect((await first.recv()).toString()).toBe("still-first");
  });

  it("skips unknown envelope types (v1)", async () => {
    const server = await bound();
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.write(encodeFrameHex("0101" + "cc".repeat(16)) + encodeFrameHex("7fabcdef") + encodeFrameHex("ff") + encodeFrameHex("036f6b"));
    expect((await server.recv()).toString()).toBe("ok");
    expect(server.peerCount).toBe(1);
  });

  it("closes on an empty v1 frame after the handshake (ERR_AIOMSG_EMPTY_FRAME), as Python 2026.7.1 ends the connection", async () => {
    const server = await bound();
    const closed = once(server, "peerDisconnected");
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.write(encodeFrameHex("0101" + "cc".repeat(16)) + encodeFrameHex("036f6b") + "00000000" + encodeFrameHex("036e6f"));
    expect((await server.recv()).toString()).toBe("ok");
    const [info] = await closed;
    expect(info.reason?.code).toBe("ERR_AIOMSG_EMPTY_FRAME");
    await raw.waitClosed();
  });

  it("delivers every frame pipelined behind HELLO in the same write", async () => {
    const server = await bound();
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.write(encodeFrameHex("0101" + "cc".repeat(16)) + range(10).map((m) => encodeFrameHex("03" + Buffer.from(m).toString("hex"))).join(""));
    expect(await recvN(server, 10)).toEqual(range(10));
  });

  it("closes a handshake that does not finish within handshakeTimeout", async () => {
    const server = await bound({ handshakeTimeout: 200 });
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await RawPeer.connect(server.port!);
    raw.write("0000"); // and then nothing
    await raw.waitClosed();
    expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_HANDSHAKE_TIMEOUT");
  });
});

describe("API misuse fails at the call", () => {
  it("rejects an own identity of 15 bytes and an empty send identity", async () => {
    expect(() => new Socket({ identity: Buffer.alloc(15) })).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_INVALID_OPTION" }));
    const s = sock();
    await expect(s.send("x", { identity: Buffer.alloc(0) })).rejects.toThrow(UsageError);
  });

  it("rejects send() after close()", async () => {
    const s = new Socket();
    await s.close();
    await expect(s.send("late")).rejects.toMatchObject({ code: "ERR_AIOMSG_SOCKET_CLOSED" });
    await expect(s.recv()).rejects.toMatchObject({ code: "ERR_AIOMSG_SOCKET_CLOSED" });
  });

  it("rejects unknown options", () => {
    expect(() => new Socket({ sendMode: "fanout" as never })).toThrow(UsageError);
    expect(() => new Socket({ protocol: "v2" as never })).toThrow(UsageError);
    expect(() => new Socket({ heartbeatInterval: -1 })).toThrow(UsageError);
  });

  it("supports await using (Symbol.asyncDispose)", async () => {
    let port = 0;
    {
      await using s = new Socket();
      await s.bind("127.0.0.1", 0);
      port = s.port!;
    }
    // The listener is gone once the block exits.
    const probe = new Socket();
    await probe.bind("127.0.0.1", port);
    await probe.close();
  });

  it("recv() honours an AbortSignal", async () => {
    const s = sock();
    const ac = new AbortController();
    const p = s.recv({ signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "ERR_AIOMSG_ABORTED" });
  });
});

describe("flow control and close", () => {
  it("send() waits at the high-water mark while the peer does not read, and resumes when it does", async () => {
    const server = await bound({ highWaterMark: 256 * 1024 });
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.frame("0101" + "cc".repeat(16));
    await waitFor(() => server.peerCount === 1);
    raw.sock.pause();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let blocked: Promise<void> | undefined;
    let sent = 0;
    for (; sent < 2000 && !blocked; sent++) {
      const p = server.send(chunk);
      const state = await Promise.race([p.then(() => "done"), new Promise((r) => setImmediate(() => r("pending")))]);
      if (state === "pending") blocked = p;
    }
    expect(blocked).toBeDefined();
    expect(sent).toBeLessThan(2000); // bounded well below 128 MB
    raw.sock.resume();
    await blocked;
  });

  it("reports the at-most-once messages still in this process when their peer dies", async () => {
    // One peer may hold all of it, so that every message is written to it (none waits in the socket's queue).
    const server = await bound({ highWaterMark: 64 * 1024 * 1024, peerHighWaterMark: 64 * 1024 * 1024 });
    const raw = await RawPeer.connect(server.port!);
    raw.frame("0101" + "cc".repeat(16));
    await waitFor(() => server.peerCount === 1);
    raw.sock.pause(); // stops reading: kernel buffers fill, then Node's
    const dropped: DroppedMessage[] = [];
    server.on("dropped", (d) => dropped.push(d));
    const N = 1024;
    for (let i = 0; i < N; i++) {
      const p = Buffer.alloc(64 * 1024, 0x61);
      p.writeUInt32BE(i, 0);
      await server.send(p);
    }
    const gone = once(server, "peerDisconnected");
    raw.destroy();
    await gone;
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((d) => d.code === "ERR_AIOMSG_PEER_LOST" && d.identity?.toString("hex") === "cc".repeat(16))).toBe(true);
    // The reported ones are the tail of the send order, ending with the last message.
    const ids = dropped.map((d) => d.payload.readUInt32BE(0));
    expect(ids).toEqual(ids.map((_, i) => N - ids.length + i));
  });

  it("close() flushes what send() accepted while a peer was connected", async () => {
    const server = await bound();
    const client = await connected(server);
    for (const m of range(5000)) await client.send(m);
    await client.close();
    const got = await recvN(server, 5000);
    expect(got).toEqual(range(5000));
  });

  it("close() reports what it could not deliver within linger", async () => {
    const s = sock();
    await s.connect("127.0.0.1", 1); // nothing listens there
    const dropped: string[] = [];
    s.on("dropped", (d) => dropped.push(`${d.code}:${d.payload.toString()}`));
    await s.send("a");
    await s.send("b");
    await s.close({ linger: 50 });
    expect(dropped).toEqual(["ERR_AIOMSG_CLOSE_LINGER:a", "ERR_AIOMSG_CLOSE_LINGER:b"]);
  });
});

describe("Python's wider API", () => {
  it("bind() on several hosts at once (Python's bind(hosts, port)): each listens, and a peer reaches the socket through each", async () => {
    const server = sock();
    await server.bind(["127.0.0.1", "127.0.0.2"], 0);
    const addrs = server.addresses;
    expect(addrs.map((a) => a.host)).toEqual(["127.0.0.1", "127.0.0.2"]);
    for (const a of addrs) {
      const c = sock();
      const up = once(c, "peerConnected");
      await c.connect(a.host, a.port);
      await up;
      await c.send(`via ${a.host}`);
      expect((await server.recv()).toString()).toBe(`via ${a.host}`);
    }
  });

  it("bind() on several hosts where one cannot listen rejects and closes the listeners that call opened", async () => {
    const net = await import("node:net");
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as import("node:net").AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const server = sock();
    // The same address twice: the second listen fails with EADDRINUSE.
    await expect(server.bind(["127.0.0.2", "127.0.0.1", "127.0.0.1"], port)).rejects.toThrow();
    expect(server.addresses).toEqual([]);
    // The first two were closed: both addresses are free again.
    for (const host of ["127.0.0.1", "127.0.0.2"]) {
      const again = net.createServer();
      await new Promise<void>((resolve, reject) => {
        again.once("error", reject);
        again.listen(port, host, resolve);
      });
      await new Promise<void>((r) => again.close(() => r()));
    }
  });

  it("heartbeat settings that would part this end from a Python peer (5 s / 15 s fixed) emit one AiomsgWarning each; compatible ones none", async () => {
    const warnings: Array<{ name: string; code?: string; message: string }> = [];
    const on = (w: Error & { code?: string }): void => void warnings.push({ name: w.name, code: w.code, message: w.message });
    process.on("warning", on);
    try {
      sock({ heartbeatInterval: 15_001, heartbeatTimeout: 60_000 });
      sock({ heartbeatInterval: 15_001, heartbeatTimeout: 60_000 }); // same text: warned once
      sock({ heartbeatInterval: 1_000, heartbeatTimeout: 4_999 });
      sock({ heartbeatInterval: 4_000, heartbeatTimeout: 14_000 }); // fine for Python
      await waitFor(() => warnings.length >= 2, 2000, "two warnings");
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", on);
    }
    expect(warnings.map((w) => [w.name, w.code])).toEqual([
      ["AiomsgWarning", "AIOMSG_HEARTBEAT_PYTHON"],
      ["AiomsgWarning", "AIOMSG_HEARTBEAT_PYTHON"],
    ]);
    expect(warnings[0]!.message).toMatch(/heartbeatInterval 15001 ms: a Python peer drops/);
    expect(warnings[1]!.message).toMatch(/heartbeatTimeout 4999 ms: .*would drop an idle Python peer/);
  });
});
