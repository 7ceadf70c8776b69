/**
 * close() (issue 7): what send() accepted while a peer was connected is
 * flushed before close() resolves (bounded by the linger); what cannot be
 * delivered is reported through `dropped` events (ERR_AIOMSG_CLOSE_LINGER),
 * never lost silently. Its own file (own worker process) because one test
 * counts the process's TCP handles.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import { once } from "node:events";
import { Socket, type DroppedMessage } from "../../packages/core/src/index.js";
import { Cleanup, Inbox, RawConn, nextEvent, randomIdentity, waitFor, wire } from "./helpers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("close() with messages in flight", () => {
  it("what send() accepted while a peer was connected is flushed before close() resolves", async () => {
    const b = cleanup.socket(new Socket());
    await b.bind("127.0.0.1", 0);
    const inbox = new Inbox(b);
    for (const delivery of ["at-most-once", "at-least-once"] as const) {
      const c = new Socket({ deliveryGuarantee: delivery });
      cleanup.add(() => c.close({ linger: 0 }));
      const dropped: DroppedMessage[] = [];
      c.on("dropped", (d) => dropped.push(d));
      const up = nextEvent(c, "peerConnected");
      await c.connect("127.0.0.1", b.port!);
      await up;
      const N = 20_000;
      const body = "p".repeat(90);
      for (let i = 0; i < N; i++) await c.send(`${delivery}:${i}:${body}`);
      await c.close();
      expect(dropped).toEqual([]);
      const hex = c.identity.toString("hex");
      const got = await inbox.waitFrom(hex, N, 10_000);
      expect(new Set(got).size).toBe(N);
      if (delivery === "at-most-once") expect(got.map((t) => Number(t.split(":")[1]))).toEqual(Array.from({ length: N }, (_, i) => i));
    }
  });

  it("messages waiting for a peer that never came are reported as dropped (ERR_AIOMSG_CLOSE_LINGER), each exactly once", async () => {
    // A port with nobody listening.
    const tmp = net.createServer().listen(0, "127.0.0.1");
    await once(tmp, "listening");
    const port = (tmp.address() as net.AddressInfo).port;
    await new Promise((r) => tmp.close(r));
    for (const delivery of ["at-most-once", "at-least-once"] as const) {
      const c = new Socket({ deliveryGuarantee: delivery });
      cleanup.add(() => c.close({ linger: 0 }));
      const dropped: DroppedMessage[] = [];
      c.on("dropped", (d) => dropped.push(d));
      await c.connect("127.0.0.1", port);
      for (let i = 0; i < 50; i++) await c.send(`q${i}`);
      const t0 = Date.now();
      await c.close({ linger: 200 });
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(190);
      expect(took).toBeLessThan(1500);
      expect(dropped.map((d) => d.code)).toEqual(Array(50).fill("ERR_AIOMSG_CLOSE_LINGER"));
      expect(dropped.map((d) => d.payload.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `q${i}`));
    }
  });

  it("at-least-once messages a peer never acknowledges are reported as dropped after the linger", async () => {
    const server = net.createServer();
    cleanup.add(() => server.close());
    const accepted: RawConn[] = [];
    server.on("connection", (s) => {
      const r = new RawConn(s);
      accepted.push(r);
      cleanup.add(() => r.destroy());
      r.frame(wire.hello(randomIdentity())); // greets, reads, never ACKs
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const c = new Socket({ deliveryGuarantee: "at-least-once", resendInterval: 60_000 });
    cleanup.add(() => c.close({ linger: 0 }));
    const dropped: DroppedMessage[] = [];
    c.on("dropped", (d) => dropped.push(d));
    const up = nextEvent(c, "peerConnected");
    await c.connect("127.0.0.1", (server.address() as net.AddressInfo).port);
    await up;
    for (let i = 0; i < 10; i++) await c.send(`u${i}`);
    const t0 = Date.now();
    await c.close({ linger: 300 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
    expect(dropped.map((d) => [d.code, d.payload.toString()])).toEqual(Array.from({ length: 10 }, (_, i) => ["ERR_AIOMSG_CLOSE_LINGER", `u${i}`]));
  });

  it("at-most-once messages stuck behind a peer that stopped reading are either delivered or reported as dropped, never lost silently", async () => {
    const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
    // Earlier tests' sockets must be gone, so that the count below means "the sender's socket".
    await waitFor(() => tcpHandles() === 0, 10_000, "no TCP sockets left from earlier tests");
    const server = net.createServer();
    cleanup.add(() => server.close());
    let peer: RawConn | undefined;
    server.on("connection", (s) => {
      peer = new RawConn(s);
      cleanup.add(() => peer!.destroy());
      peer.frame(wire.hello(randomIdentity()));
      s.pause(); // stops reading: the kernel buffers fill, then the sender's
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const c = new Socket({ highWaterMark: 256 * 2 ** 20 });
    cleanup.add(() => c.close({ linger: 0 }));
    const dropped: DroppedMessage[] = [];
    c.on("dropped", (d) => dropped.push(d));
    const up = nextEvent(c, "peerConnected");
    await c.connect("127.0.0.1", (server.address() as net.AddressInfo).port);
    await up;
    expect(tcpHandles(), "the sender's socket and the peer's").toBe(2);
    // 96 MiB: more than loopback's kernel buffers can hold (tcp_rmem max 32 MiB
    // + tcp_wmem max 4 MiB here), so some of it is still in the sender's hands.
    const N = 1536;
    const body = Buffer.alloc(64 * 1024, 0x6b);
    for (let i = 0; i < N; i++) {
      const p = Buffer.from(body);
      p.writeUInt32BE(i, 0);
      await c.send(p);
    }
    const t0 = Date.now();
    await c.close({ linger: 300 });
    expect(Date.now() - t0).toBeLessThan(1500);
    // Wait until the TS end has really let go of its TCP socket, then read
    // everything that had reached the kernel.
    await waitFor(() => tcpHandles() === 1, 10_000, "the sender's TCP socket to be released");
    peer!.sock.resume();
    await peer!.waitClosed(10_000);
    const stream = Buffer.concat(peer!.received);
    const delivered: number[] = [];
    let off = 0;
    while (stream.length - off >= 4) {
      const len = stream.readUInt32BE(off);
      if (stream.length - off - 4 < len) break;
      const b = stream.subarray(off + 4, off + 4 + len);
      if (b[0] === 0x03 && len === 1 + body.length) delivered.push(b.readUInt32BE(1));
      off += 4 + len;
    }
    const reported = dropped.map((d) => d.payload.readUInt32BE(0));
    console.log(`[close] stuck peer: ${delivered.length} of ${N} delivered, ${reported.length} reported dropped`);
    expect(dropped.every((d) => d.code === "ERR_AIOMSG_CLOSE_LINGER")).toBe(true);
    // The documented rule: delivered messages are a prefix of the send order,
    // reported ones a suffix, and the two leave no gap (nothing lost silently).
    // They may overlap only where the write that was cut off had already
    // reached the peer (the socket cannot know how much of it did).
    const firstReported = reported.length > 0 ? reported[0]! : N;
    expect(delivered, "delivered: a prefix of the send order").toEqual(delivered.map((_, i) => i));
    expect(reported, "reported: the rest, in send order").toEqual(reported.map((_, i) => firstReported + i));
    expect(firstReported + reported.length, "every message up to the last is accounted for").toBe(N);
    const silentlyLost = Math.max(0, firstReported - delivered.length);
    expect(silentlyLost, `${silentlyLost} of ${N} messages neither delivered nor reported as dropped`).toBe(0);
    console.log(`[close] reported although delivered (cut write): ${Math.max(0, delivered.length - firstReported)}`);
  });
});
