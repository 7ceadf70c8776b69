/**
 * Hostile handshakes (issue 7): bad HELLOs, a second HELLO, a stolen identity,
 * a peer that trickles its HELLO, and a thousand connections that never speak.
 * The offender is closed with a coded error; the good peer loses nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { Socket, type ProtocolOption } from "../../packages/core/src/index.js";
import { Cleanup, DisconnectLog, ErrorLog, Inbox, RawConn, Traffic, frame, nextEvent, pair, randomIdentity, waitFor, wire, wsFrame, wsUpgradeRequest } from "./helpers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function arena(opts: { protocol?: ProtocolOption; handshakeTimeout?: number; maxPeers?: number } = {}) {
  const { srv, good, port } = await pair(cleanup, opts);
  const errors = new ErrorLog(srv);
  const downs = new DisconnectLog(srv);
  const ups: string[] = [];
  srv.on("peerConnected", (i) => ups.push(i.identity.toString("hex")));
  const traffic = new Traffic(srv, good).start();
  cleanup.add(() => traffic.stop());
  const raw = async () => {
    const r = await RawConn.connect(port);
    cleanup.add(() => r.destroy());
    return r;
  };
  const goodPeerUnharmed = async () => {
    expect(await traffic.finish()).toBeGreaterThan(0);
    expect(srv.peerIdentities.map((b) => b.toString("hex"))).toEqual([good.identity.toString("hex")]);
    expect(downs.of(good.identity.toString("hex"))).toEqual([]);
  };
  return { srv, good, port, errors, downs, ups, traffic, raw, goodPeerUnharmed };
}

describe("bad HELLOs", () => {
  const id = randomIdentity();
  const cases: Array<[string, ProtocolOption, Buffer, string]> = [
    ["v1: wrong version (2)", "v1", wire.hello(id, 2), "ERR_AIOMSG_BAD_VERSION"],
    ["v1: wrong version (0)", "v1", wire.hello(id, 0), "ERR_AIOMSG_BAD_VERSION"],
    ["v1: too short (17 bytes)", "v1", wire.hello(id).subarray(0, 17), "ERR_AIOMSG_BAD_HELLO"],
    ["v1: too long (4097 bytes, over MAX_HELLO_SIZE)", "v1", Buffer.concat([wire.hello(id), Buffer.alloc(4097 - 18)]), "ERR_AIOMSG_BAD_HELLO"],
    ["v1: absent (DATA first)", "v1", wire.data("sneaky"), "ERR_AIOMSG_NO_HELLO"],
    ["v1: absent (HEARTBEAT first)", "v1", wire.heartbeat(), "ERR_AIOMSG_NO_HELLO"],
    ["legacy: too long (4097 bytes, over MAX_HELLO_SIZE)", "legacy", Buffer.alloc(4097, 9), "ERR_AIOMSG_BAD_HELLO"],
    ["auto: an empty first frame (no generation)", "auto", Buffer.alloc(0), "ERR_AIOMSG_UNKNOWN_DIALECT"],
    ["auto: a cut v1 HELLO (10 bytes)", "auto", wire.hello(id).subarray(0, 10), "ERR_AIOMSG_BAD_HELLO"],
    ["early: an identity that is not UTF-8", "early", Buffer.from([0x41, 0xff, 0x42]), "ERR_AIOMSG_BAD_HELLO"],
    ["early: an empty identity frame", "early", Buffer.alloc(0), "ERR_AIOMSG_BAD_HELLO"],
    ["auto: v1 HELLO of a wrong version", "auto", wire.hello(id, 9), "ERR_AIOMSG_BAD_VERSION"],
  ];
  for (const [name, protocol, hello, code] of cases) {
    it(`${name} → ${code}; data behind it is never delivered`, async () => {
      const a = await arena({ protocol });
      const r = await a.raw();
      // The bad greeting and a payload in one TCP write.
      r.write(Buffer.concat([frame(hello), frame(protocol === "legacy" || protocol === "early" ? Buffer.from("smuggled") : wire.data("smuggled"))]));
      await r.waitClosed();
      await a.errors.waitCode(code);
      expect(a.errors.errors.every((e) => e.code === code)).toBe(true);
      expect(a.ups, "no peer was admitted").toEqual([]);
      expect(a.traffic.srvMessages.texts()).not.toContain("smuggled");
      await a.goodPeerUnharmed();
    });
  }
});

describe("HELLO at the wrong time or with a stolen identity", () => {
  it("a second HELLO after the handshake is skipped, as Python does: the peer keeps its first identity and its data before and after arrives", async () => {
    const a = await arena();
    const r = await a.raw();
    const id = randomIdentity();
    const hex = id.toString("hex");
    r.write(Buffer.concat([frame(wire.hello(id)), frame(wire.data("first"))]));
    await a.traffic.srvMessages.waitFrom(hex, 1);
    r.write(Buffer.concat([frame(wire.hello(randomIdentity())), frame(wire.data("after"))]));
    await a.traffic.srvMessages.waitFrom(hex, 2);
    expect(a.traffic.srvMessages.from(hex)).toEqual(["first", "after"]);
    expect(a.downs.of(hex)).toEqual([]);
    expect(a.ups.filter((u) => u === hex)).toEqual([hex]);
    expect(r.closed).toBe(false);
    r.destroy();
    await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the raw peer");
    await a.goodPeerUnharmed();
  });

  it("a duplicate identity while the first is connected → the newcomer is refused (ERR_AIOMSG_DUPLICATE_IDENTITY), the first keeps working", async () => {
    const a = await arena();
    const stolen = a.good.identity;
    const attempts = 5;
    for (let i = 0; i < attempts; i++) {
      const r = await a.raw();
      r.write(Buffer.concat([frame(wire.hello(stolen)), frame(wire.data(`impostor${i}`))]));
      await r.waitClosed();
    }
    expect(a.errors.count("ERR_AIOMSG_DUPLICATE_IDENTITY")).toBe(attempts);
    expect(a.traffic.srvMessages.texts().filter((t) => t.startsWith("impostor"))).toEqual([]);
    // The bind socket's messages to that identity still go to the first connection.
    await a.goodPeerUnharmed();
  });
});

describe("slow and idle connections", () => {
  it("a peer trickling its HELLO one byte every 100 ms is closed at the handshake deadline", async () => {
    const handshakeTimeout = 600;
    const a = await arena({ handshakeTimeout });
    const r = await a.raw();
    const bytes = frame(wire.hello(randomIdentity())); // 22 bytes: 2.2 s at this pace
    let i = 0;
    const t0 = Date.now();
    const trickle = setInterval(() => r.write(bytes.subarray(i, ++i)), 100);
    cleanup.add(() => clearInterval(trickle));
    await r.waitClosed(handshakeTimeout + 2000);
    clearInterval(trickle);
    const elapsed = r.closedAt - t0;
    expect(elapsed).toBeGreaterThanOrEqual(handshakeTimeout - 50);
    expect(elapsed).toBeLessThan(handshakeTimeout + 1000);
    expect(i).toBeLessThan(bytes.length);
    expect(a.errors.codes()).toEqual(["ERR_AIOMSG_HANDSHAKE_TIMEOUT"]);
    expect(a.ups, "no peer was admitted").toEqual([]);
    await a.goodPeerUnharmed();
  });

  async function openIdle(port: number, n: number): Promise<RawConn[]> {
    // Both ends live in this process: n idle connections cost 2n descriptors.
    let limits = "";
    try {
      limits = readFileSync("/proc/self/limits", "utf8"); // Linux; elsewhere the connects fail loudly instead
    } catch {
      /* no /proc */
    }
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? Infinity);
    if (soft < 2 * n + 256) throw new Error(`this test needs ${2 * n + 256} file descriptors; raise \`ulimit -n\` (now ${soft})`);
    const conns = await Promise.all(Array.from({ length: n }, () => RawConn.connect(port)));
    for (const c of conns) cleanup.add(() => c.destroy());
    return conns;
  }

  it("1,000 idle connections opened at once (no maxPeers): real peers are still served, then the idle ones time out", async () => {
    const handshakeTimeout = 4000;
    const a = await arena({ handshakeTimeout });
    const idle = await openIdle(a.port, 1000);
    const flooded = Date.now();
    // A new real peer connects while the thousand are open.
    const late = cleanup.socket(new Socket());
    const lateInbox = new Inbox(late);
    const up = nextEvent(a.srv, "peerConnected", (i: { identity: Buffer }) => i.identity.equals(late.identity));
    await late.connect("127.0.0.1", a.port);
    await up;
    await late.send("late hello");
    await a.traffic.srvMessages.waitFrom(late.identity.toString("hex"), 1);
    await a.srv.send("welcome", { identity: late.identity });
    await waitFor(() => lateInbox.texts().includes("welcome"), 5000, "reply to the late peer");
    const servedAfter = Date.now() - flooded;
    const stillOpen = idle.filter((c) => !c.closed).length;
    console.log(`[hostile] late peer served ${servedAfter} ms into the flood with ${stillOpen}/1000 idle connections open`);
    expect(stillOpen).toBe(1000);
    // The deadline then clears every idle connection.
    await waitFor(() => idle.every((c) => c.closed), handshakeTimeout + 10_000, "all idle connections closed");
    expect(a.errors.count("ERR_AIOMSG_HANDSHAKE_TIMEOUT")).toBe(1000);
    late.close({ linger: 0 });
    await waitFor(() => a.srv.peerCount === 1, 2000, "late peer gone");
    await a.goodPeerUnharmed();
  });

  it("1,000 idle connections with maxPeers 20: the excess is refused (ERR_AIOMSG_MAX_PEERS) and the slots free up at the deadline", async () => {
    const handshakeTimeout = 3000;
    const maxPeers = 20;
    const a = await arena({ handshakeTimeout, maxPeers });
    const idle = await openIdle(a.port, 1000);
    // One slot is the good peer: 19 idle connections get a slot, 981 are refused.
    await waitFor(() => idle.filter((c) => c.closed).length >= 1000 - (maxPeers - 1), 10_000, "refused connections closed");
    expect(a.errors.count("ERR_AIOMSG_MAX_PEERS")).toBe(1000 - (maxPeers - 1));
    // A real peer arriving now is refused too, and its reconnect loop gets it in
    // once the handshake deadline frees the slots.
    const late = cleanup.socket(new Socket({ reconnectionDelay: 100 }));
    let slotsFreedWhenAdmitted = -1;
    const up = nextEvent(
      a.srv,
      "peerConnected",
      (i: { identity: Buffer }) => {
        if (!i.identity.equals(late.identity)) return false;
        slotsFreedWhenAdmitted = a.errors.count("ERR_AIOMSG_HANDSHAKE_TIMEOUT");
        return true;
      },
      handshakeTimeout + 5000,
    );
    const t0 = Date.now();
    await late.connect("127.0.0.1", a.port);
    await up;
    console.log(`[hostile] with maxPeers ${maxPeers}, the late peer got in after ${Date.now() - t0} ms`);
    expect(a.errors.count("ERR_AIOMSG_MAX_PEERS"), "the late peer was refused at first").toBeGreaterThan(1000 - (maxPeers - 1));
    expect(slotsFreedWhenAdmitted, "admitted only once the deadline freed a slot").toBeGreaterThanOrEqual(1);
    await a.errors.waitCode("ERR_AIOMSG_HANDSHAKE_TIMEOUT", maxPeers - 1, 5000);
    expect(a.errors.count("ERR_AIOMSG_HANDSHAKE_TIMEOUT")).toBe(maxPeers - 1);
    await waitFor(() => idle.every((c) => c.closed), 5000, "all idle connections closed");
    late.close({ linger: 0 });
    await waitFor(() => a.srv.peerCount === 1, 2000, "late peer gone");
    await a.goodPeerUnharmed();
  });
});

describe("WebSocket sub-transport of a v1 bind end (docs/protocol.md)", () => {
  const received = (r: RawConn) => Buffer.concat(r.received);
  const closeCode = (r: RawConn): number | undefined => {
    // The server's close frame: 0x88, length 2, code (unmasked).
    const b = received(r);
    const i = b.indexOf(Buffer.from([0x88, 0x02]));
    return i >= 0 && b.length >= i + 4 ? b.readUInt16BE(i + 2) : undefined;
  };
  async function upgraded(a: Awaited<ReturnType<typeof arena>>): Promise<RawConn> {
    const r = await a.raw();
    r.write(wsUpgradeRequest());
    await waitFor(() => received(r).includes("\r\n\r\n"), 5000, "the upgrade response");
    expect(received(r).toString("latin1")).toMatch(/^HTTP\/1\.1 101 /);
    return r;
  }

  it("control: a well-formed WebSocket client is admitted and its messages arrive", async () => {
    const a = await arena();
    const r = await upgraded(a);
    const id = randomIdentity();
    const stream = Buffer.concat([frame(wire.hello(id)), frame(wire.data("over ws"))]);
    // Message boundaries mean nothing: split the aiomsg stream across two messages mid-frame.
    r.write(Buffer.concat([wsFrame(0x2, stream.subarray(0, 7)), wsFrame(0x2, stream.subarray(7))]));
    await a.traffic.srvMessages.waitFrom(id.toString("hex"), 1);
    expect(a.traffic.srvMessages.from(id.toString("hex"))).toEqual(["over ws"]);
    r.destroy();
    await waitFor(() => a.srv.peerCount === 1, 2000, "the WebSocket peer to leave");
    await a.goodPeerUnharmed();
  });

  it("an upgrade request over 8 KiB is refused (ERR_AIOMSG_WEBSOCKET) without waiting for its end", async () => {
    const a = await arena({ handshakeTimeout: 10_000 });
    const r = await a.raw();
    const t0 = Date.now();
    r.write(Buffer.from(`GET / HTTP/1.1\r\nX-Pad: ${"a".repeat(9000)}`, "latin1"));
    await r.waitClosed();
    expect(r.closedAt - t0).toBeLessThan(1000);
    expect(a.errors.codes()).toEqual(["ERR_AIOMSG_WEBSOCKET"]);
    expect(received(r).toString("latin1")).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(a.ups).toEqual([]);
    await a.goodPeerUnharmed();
  });

  it("an upgrade request trickled one byte every 100 ms is closed at the handshake deadline", async () => {
    const handshakeTimeout = 600;
    const a = await arena({ handshakeTimeout });
    const r = await a.raw();
    const req = wsUpgradeRequest();
    let i = 0;
    const t0 = Date.now();
    const trickle = setInterval(() => r.write(req.subarray(i, ++i)), 100);
    cleanup.add(() => clearInterval(trickle));
    await r.waitClosed(handshakeTimeout + 2000);
    clearInterval(trickle);
    expect(r.closedAt - t0).toBeLessThan(handshakeTimeout + 1000);
    expect(a.errors.codes()).toEqual(["ERR_AIOMSG_HANDSHAKE_TIMEOUT"]);
    await a.goodPeerUnharmed();
  });

  it("an unmasked client frame is refused with close code 1002", async () => {
    const a = await arena();
    const r = await upgraded(a);
    r.write(wsFrame(0x2, frame(wire.hello(randomIdentity())), null));
    await r.waitClosed();
    expect(closeCode(r)).toBe(1002);
    expect(a.errors.codes()).toEqual(["ERR_AIOMSG_WEBSOCKET"]);
    expect(a.ups).toEqual([]);
    await a.goodPeerUnharmed();
  });

  it("a text frame is refused with close code 1003", async () => {
    const a = await arena();
    const r = await upgraded(a);
    const id = randomIdentity();
    r.write(wsFrame(0x2, frame(wire.hello(id))));
    await waitFor(() => a.ups.length === 1, 5000, "the WebSocket peer admitted");
    r.write(wsFrame(0x1, Buffer.from("hello as text")));
    await r.waitClosed();
    expect(closeCode(r)).toBe(1003);
    expect(a.downs.of(id.toString("hex"))[0]?.reason?.code).toBe("ERR_AIOMSG_WEBSOCKET");
    await a.goodPeerUnharmed();
  });
});
