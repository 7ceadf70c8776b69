/**
 * Hostile framing (issue 7): oversized length prefixes, empty frames, frames cut
 * by EOF, frames trickled byte by byte. For each, the offending connection is
 * closed with a coded error while a good peer keeps exchanging messages with
 * the same bind socket in both directions and loses nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Socket } from "../../packages/core/src/index.js";
import { Cleanup, DisconnectLog, ErrorLog, Inbox, RawConn, Traffic, frame, nextEvent, pair, prefix, randomIdentity, waitFor, wire } from "./helpers.js";

const MAX = 64 * 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Bind socket + good peer + running two-way traffic + raw attacker plumbing. */
async function arena(opts: { protocol?: "v1" | "legacy" | "auto"; maxFrameSize?: number; heartbeatTimeout?: number; heartbeatInterval?: number; handshakeTimeout?: number } = {}) {
  const { srv, good, port } = await pair(cleanup, { maxFrameSize: MAX, ...opts });
  const errors = new ErrorLog(srv);
  const downs = new DisconnectLog(srv);
  const traffic = new Traffic(srv, good).start();
  cleanup.add(() => traffic.stop());
  /** Open a raw connection and, if asked, complete the handshake in the socket's dialect. */
  const attacker = async (handshake: boolean) => {
    const raw = await RawConn.connect(port);
    cleanup.add(() => raw.destroy());
    const id = randomIdentity();
    if (handshake) {
      const up = nextEvent(srv, "peerConnected", (i: { identity: Buffer }) => i.identity.equals(id));
      raw.frame(opts.protocol === "legacy" ? id : wire.hello(id));
      await up;
    }
    return { raw, id, hex: id.toString("hex") };
  };
  /** The good peer is still connected, lost nothing, and the bind socket took no one else. */
  const goodPeerUnharmed = async () => {
    const n = await traffic.finish();
    expect(n).toBeGreaterThan(0);
    expect(srv.peerIdentities.map((b) => b.toString("hex"))).toEqual([good.identity.toString("hex")]);
    expect(downs.of(good.identity.toString("hex"))).toEqual([]);
  };
  return { srv, good, port, errors, downs, traffic, attacker, goodPeerUnharmed };
}

describe("length prefixes beyond maxFrameSize", () => {
  for (const len of [MAX + 1, 0x7fffffff, 0xffffffff]) {
    it(`after the handshake, a prefix of ${len} closes the connection with ERR_AIOMSG_FRAME_TOO_LARGE`, async () => {
      const a = await arena();
      const { raw, hex } = await a.attacker(true);
      raw.write(Buffer.concat([prefix(len), Buffer.alloc(64 * 1024, 0x41)]));
      await raw.waitClosed();
      await a.errors.waitCode("ERR_AIOMSG_FRAME_TOO_LARGE");
      await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the attacker");
      expect(a.downs.of(hex)[0]!.reason?.code).toBe("ERR_AIOMSG_FRAME_TOO_LARGE");
      await a.goodPeerUnharmed();
    });
  }

  it("before the handshake, a first frame announcing 16 MiB (prefix 0x00FFFFFF) closes the connection at once", async () => {
    const a = await arena({ handshakeTimeout: 10_000 });
    const { raw } = await a.attacker(false);
    const t0 = Date.now();
    raw.write(prefix(0x00ffffff));
    const closedAt = await raw.waitClosed();
    expect(closedAt - t0).toBeLessThan(1000);
    expect(a.errors.codes()).toEqual(["ERR_AIOMSG_FRAME_TOO_LARGE"]);
    await a.goodPeerUnharmed();
  });

  it("before the handshake, a 0xFFFFFFFF prefix closes the connection at once", async () => {
    // A v1 bind end may refuse it at its first byte already (docs/protocol.md: it sniffs
    // the first byte, 0x00 = aiomsg, 'G' = WebSocket, anything else = close).
    const a = await arena({ handshakeTimeout: 10_000 });
    const { raw } = await a.attacker(false);
    const t0 = Date.now();
    raw.write(prefix(0xffffffff));
    const closedAt = await raw.waitClosed();
    expect(closedAt - t0).toBeLessThan(1000);
    expect(a.errors.errors).toHaveLength(1);
    expect(["ERR_AIOMSG_FRAME_TOO_LARGE", "ERR_AIOMSG_UNKNOWN_DIALECT"]).toContain(a.errors.errors[0]!.code);
    await a.goodPeerUnharmed();
  });

  it("a frame of exactly maxFrameSize is delivered; one byte more is refused", async () => {
    const a = await arena();
    const { raw, hex } = await a.attacker(true);
    const inbox = a.traffic.srvMessages;
    const big = Buffer.alloc(MAX - 1, 0x62); // type byte + MAX-1 payload = MAX
    raw.frame(wire.data(big));
    await inbox.waitFrom(hex, 1);
    expect(inbox.from(hex)[0]!.length).toBe(MAX - 1);
    raw.frame(wire.data(Buffer.alloc(MAX, 0x63)));
    await raw.waitClosed();
    expect(a.downs.of(hex)[0]?.reason?.code).toBe("ERR_AIOMSG_FRAME_TOO_LARGE");
    expect(inbox.from(hex)).toHaveLength(1);
    await a.goodPeerUnharmed();
  });

  it("200 connections announcing 4 GiB frames allocate nothing for them", async () => {
    const a = await arena();
    const before = process.memoryUsage();
    const conns = await Promise.all(Array.from({ length: 200 }, () => a.attacker(false)));
    for (const { raw } of conns) raw.write(Buffer.concat([frame(wire.hello(randomIdentity())), prefix(0xffffffff), Buffer.alloc(16 * 1024)]));
    await Promise.all(conns.map(({ raw }) => raw.waitClosed()));
    const after = process.memoryUsage();
    const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    console.log(`[hostile] 200 x 4 GiB prefixes: heap+arrayBuffers grew ${(grown / 2 ** 20).toFixed(1)} MiB`);
    // Buffering even one announced frame would be 4 GiB; 64 MiB covers the test's own garbage.
    expect(grown).toBeLessThan(64 * 2 ** 20);
    expect(a.errors.count("ERR_AIOMSG_FRAME_TOO_LARGE")).toBe(200);
    await a.goodPeerUnharmed();
  });

  it("a peer that has not finished the handshake cannot make the socket buffer more than a HELLO", async () => {
    // The first frame must be a HELLO (18 bytes v1, 16 legacy): a first frame
    // announcing 1 MiB can be refused at its prefix. Otherwise every
    // unauthenticated connection may park up to maxFrameSize (default 16 MiB)
    // for the whole handshakeTimeout.
    const a = await arena({ maxFrameSize: 16 * 2 ** 20, handshakeTimeout: 5000 });
    const { raw } = await a.attacker(false);
    const t0 = Date.now();
    raw.write(Buffer.concat([prefix(2 ** 20), Buffer.alloc(512 * 1024, 0x5a)]));
    const closedAt = await raw.waitClosed(5000);
    expect(closedAt - t0, "closed at the prefix, not by the handshake deadline").toBeLessThan(1000);
    expect(a.errors.codes().filter((c) => c !== "ERR_AIOMSG_HANDSHAKE_TIMEOUT").length).toBeGreaterThan(0);
    await a.goodPeerUnharmed();
  });
});

describe("zero-length frames", () => {
  it("v1: an empty frame after the handshake closes with ERR_AIOMSG_EMPTY_FRAME (Python 2026.7.1 takes it for end of stream)", async () => {
    const a = await arena();
    const { raw, hex } = await a.attacker(true);
    const empty = frame(Buffer.alloc(0));
    raw.write(Buffer.concat([frame(wire.data("a")), frame(wire.data("b")), empty, frame(wire.data("after")), ...Array(20).fill(empty)]));
    await raw.waitClosed();
    await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the attacker");
    expect(a.downs.of(hex)[0]!.reason?.code).toBe("ERR_AIOMSG_EMPTY_FRAME");
    expect(a.traffic.srvMessages.from(hex)).toEqual(["a", "b"]);
    await a.goodPeerUnharmed();
  });

  it("v1: an empty first frame is not a HELLO: ERR_AIOMSG_NO_HELLO", async () => {
    const a = await arena();
    const { raw } = await a.attacker(false);
    raw.write(frame(Buffer.alloc(0)));
    await raw.waitClosed();
    await a.errors.waitCode("ERR_AIOMSG_NO_HELLO");
    await a.goodPeerUnharmed();
  });

  it("legacy: an empty frame after the handshake closes with ERR_AIOMSG_EMPTY_FRAME (a 2019 reader hangs up)", async () => {
    const a = await arena({ protocol: "legacy" });
    const { raw, hex } = await a.attacker(true);
    raw.write(Buffer.concat([frame(Buffer.from("before")), frame(Buffer.alloc(0)), frame(Buffer.from("after"))]));
    await raw.waitClosed();
    await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the attacker");
    expect(a.downs.of(hex)[0]!.reason?.code).toBe("ERR_AIOMSG_EMPTY_FRAME");
    expect(a.traffic.srvMessages.from(hex)).toEqual(["before"]);
    await a.goodPeerUnharmed();
  });

  it("legacy: an empty first frame is not an identity: ERR_AIOMSG_BAD_HELLO", async () => {
    const a = await arena({ protocol: "legacy" });
    const { raw } = await a.attacker(false);
    raw.write(frame(Buffer.alloc(0)));
    await raw.waitClosed();
    await a.errors.waitCode("ERR_AIOMSG_BAD_HELLO");
    await a.goodPeerUnharmed();
  });
});

describe("frames cut by EOF", () => {
  const cases: Array<[string, (id: Buffer) => Buffer, boolean]> = [
    ["in the middle of a body, after the handshake", () => Buffer.concat([frame(wire.data("x")), prefix(100), Buffer.alloc(20)]), true],
    ["in the middle of a length prefix, after the handshake", () => Buffer.concat([frame(wire.data("x")), Buffer.from([0, 0])]), true],
    ["in the middle of the HELLO", (id) => frame(wire.hello(id)).subarray(0, 10), false],
  ];
  for (const [where, bytes, handshake] of cases) {
    it(`v1: EOF ${where} → ERR_AIOMSG_TRUNCATED_FRAME`, async () => {
      const a = await arena();
      const { raw, id, hex } = await a.attacker(handshake);
      raw.write(bytes(id));
      raw.sock.end();
      await raw.waitClosed();
      await a.errors.waitCode("ERR_AIOMSG_TRUNCATED_FRAME");
      if (handshake) {
        await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the attacker");
        expect(a.downs.of(hex)[0]!.reason?.code).toBe("ERR_AIOMSG_TRUNCATED_FRAME");
        expect(a.traffic.srvMessages.from(hex)).toEqual(["x"]);
      }
      await a.goodPeerUnharmed();
    });
  }

  it("legacy: EOF in the middle of a body → ERR_AIOMSG_TRUNCATED_FRAME", async () => {
    const a = await arena({ protocol: "legacy" });
    const { raw, hex } = await a.attacker(true);
    raw.write(Buffer.concat([frame(Buffer.from("whole")), prefix(50), Buffer.from("half")]));
    raw.sock.end();
    await raw.waitClosed();
    await waitFor(() => a.downs.of(hex).length === 1, 2000, "peerDisconnected for the attacker");
    expect(a.downs.of(hex)[0]!.reason?.code).toBe("ERR_AIOMSG_TRUNCATED_FRAME");
    expect(a.traffic.srvMessages.from(hex)).toEqual(["whole"]);
    await a.goodPeerUnharmed();
  });
});

describe("frames trickled one byte at a time", () => {
  it("after the handshake, a frame that never completes does not keep the connection past heartbeatTimeout", async () => {
    // docs/protocol.md: the connection is torn down after receive-silence, and
    // "any *frame* received restarts it" (Python wraps each whole frame read in the
    // 15 s timeout). A byte every 100 ms of a never-ending frame is not a frame.
    const hbTimeout = 800;
    const a = await arena({ heartbeatTimeout: hbTimeout, heartbeatInterval: 200 });
    // (The good peer stays alive under this short timeout: the traffic pump
    // sends to the bind socket every 2 ms.)
    const { raw, hex } = await a.attacker(true);
    raw.write(prefix(1000));
    const t0 = Date.now();
    const trickle = setInterval(() => raw.write(Buffer.from([0x03])), 100);
    cleanup.add(() => clearInterval(trickle));
    try {
      await raw.waitClosed(hbTimeout + 2000);
    } finally {
      clearInterval(trickle);
    }
    expect(raw.closedAt - t0).toBeLessThan(hbTimeout + 1000);
    expect(a.downs.of(hex)[0]?.reason?.code).toBe("ERR_AIOMSG_HEARTBEAT_TIMEOUT");
    await a.goodPeerUnharmed();
  });
});

describe("received-but-unread data is bounded", () => {
  it("a peer flooding DATA that the application does not read is pushed back (receiveHighWaterMark), then loses nothing", async () => {
    const srv = cleanup.socket(new Socket({ receiveHighWaterMark: 256 * 1024 }));
    await srv.bind("127.0.0.1", 0);
    const raw = await RawConn.connect(srv.port!);
    cleanup.add(() => raw.destroy());
    const id = randomIdentity();
    raw.frame(wire.hello(id));
    await nextEvent(srv, "peerConnected");
    const FRAME = 4 + 1 + 1024;
    const chunk = Buffer.concat(Array.from({ length: 64 }, () => frame(wire.data(Buffer.alloc(1024, 0x66)))));
    const CAP = 256 * 2 ** 20;
    const before = process.memoryUsage().arrayBuffers;
    let written = 0;
    let progressAt = Date.now();
    const pump = (): void => {
      while (written < CAP) {
        written += chunk.length;
        if (!raw.sock.write(chunk)) {
          raw.sock.once("drain", () => {
            progressAt = Date.now();
            pump();
          });
          return;
        }
      }
    };
    pump();
    // Stalled = no drain for 500 ms: the kernel buffers are full because the
    // bind socket stopped reading. Without backpressure the flood reaches CAP.
    await waitFor(() => written >= CAP || Date.now() - progressAt > 500, 60_000, "the flood to stall or reach its cap");
    const held = process.memoryUsage().arrayBuffers - before;
    console.log(`[hostile] flood stalled after ${(written / 2 ** 20).toFixed(1)} MiB; arrayBuffers +${(held / 2 ** 20).toFixed(1)} MiB`);
    expect(written, "the flood was never pushed back").toBeLessThan(CAP);
    expect(held).toBeLessThan(64 * 2 ** 20);
    // Now read: every flooded message arrives, and the flood resumes and ends.
    const total = written / FRAME;
    for (let n = 0; n < total; n++) {
      const p = await srv.recv();
      if (p.length !== 1024) throw new Error(`message ${n} has ${p.length} bytes`);
    }
    expect(raw.closed).toBe(false);
  });
});
