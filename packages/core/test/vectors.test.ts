/**
 * Replay the golden transcripts (recorded between two real Python peers) against
 * the TypeScript socket: play one side's bytes exactly as recorded (same TCP read
 * boundaries) and require the socket to answer with the other side's bytes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FrameDecoder, bodies, Socket } from "../src/index.js";
import { AA, CC, RawPeer, hexBuf, loadVector, rawServer, streamOf, waitFor } from "./helpers.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function frames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  new FrameDecoder(bodies((b) => out.push(Buffer.from(b)))).push(stream);
  return out;
}

for (const wire of ["v1", "legacy"] as const) {
  const heartbeatFrame = wire === "v1" ? "0000000102" : "0000001061696f6d73672d686561727462656174";

  describe(`${wire} transcripts`, () => {
    it("decodes every recorded frame of both directions", async () => {
      for (const name of ["bind-sends-connect-echoes", "connect-sends-at-least-once"]) {
        const lines = await loadVector(`${wire}/${name}`);
        for (const dir of ["c2b", "b2c"] as const) {
          const stream = Buffer.concat(streamOf(lines, dir));
          const got = frames(stream);
          expect(got.length).toBeGreaterThan(0);
          // Re-encoding the frames gives back the recorded stream byte for byte.
          const again = Buffer.concat(got.map((b) => Buffer.concat([Buffer.from([0, 0, 0, 0].map((_, i) => (b.length >>> (24 - 8 * i)) & 0xff)), b])));
          expect(again.equals(stream)).toBe(true);
        }
      }
    });

    it("bind side: sends hello/world, reads the echoes, heartbeats when idle (bind-sends-connect-echoes)", async () => {
      const lines = await loadVector(`${wire}/bind-sends-connect-echoes`);
      const sock = new Socket({ identity: AA, protocol: wire, heartbeatInterval: 150 });
      cleanups.push(() => sock.close({ linger: 0 }));
      await sock.bind("127.0.0.1", 0);
      // Sent before any peer: buffered, flushed right after the handshake.
      await sock.send("hello");
      await sock.send("world");
      const raw = await RawPeer.connect(sock.port!);
      cleanups.push(() => raw.destroy());
      const c2b = streamOf(lines, "c2b");
      raw.write(c2b[0]!); // the connect side's HELLO
      const expected = Buffer.concat(streamOf(lines, "b2c"));
      // Echoes, written with the recorded read boundaries (a frame split over writes).
      for (const chunk of c2b.slice(1, -1)) raw.write(chunk);
      const got = [await sock.recvIdentity(), await sock.recvIdentity()];
      expect(got.map(([id, m]) => [id.toString("hex"), m.toString()])).toEqual([
        [CC.toString("hex"), "hello"],
        [CC.toString("hex"), "world"],
      ]);
      await waitFor(() => raw.allBytes().length >= expected.length, 5000, "the heartbeat");
      expect(raw.allBytes().subarray(0, expected.length).toString("hex")).toBe(expected.toString("hex"));
      expect(expected.subarray(-heartbeatFrame.length / 2).toString("hex")).toBe(heartbeatFrame);
    });

    it("connect side: echoes by identity exactly as the Python connect peer did", async () => {
      const lines = await loadVector(`${wire}/bind-sends-connect-echoes`);
      const server = await rawServer();
      cleanups.push(() => server.close());
      const sock = new Socket({ identity: CC, protocol: wire, heartbeatInterval: 150 });
      cleanups.push(() => sock.close({ linger: 0 }));
      await sock.connect("127.0.0.1", server.port);
      const raw = await server.next();
      for (const chunk of streamOf(lines, "b2c").slice(0, -1)) raw.write(chunk);
      for (let i = 0; i < 2; i++) {
        const [id, msg] = await sock.recvIdentity();
        expect(id.equals(AA)).toBe(true);
        await sock.send(msg, { identity: id });
      }
      const expected = Buffer.concat(streamOf(lines, "c2b"));
      await waitFor(() => raw.allBytes().length >= expected.length, 5000, "echoes and heartbeat");
      expect(raw.allBytes().subarray(0, expected.length).toString("hex")).toBe(expected.toString("hex"));
    });

    it("bind side: acknowledges recorded at-least-once requests with the recorded bytes (connect-sends-at-least-once)", async () => {
      const lines = await loadVector(`${wire}/connect-sends-at-least-once`);
      const sock = new Socket({ identity: AA, protocol: wire });
      cleanups.push(() => sock.close({ linger: 0 }));
      await sock.bind("127.0.0.1", 0);
      const raw = await RawPeer.connect(sock.port!);
      cleanups.push(() => raw.destroy());
      for (const chunk of streamOf(lines, "c2b")) raw.write(chunk);
      expect((await sock.recv()).toString()).toBe("reliable-1");
      const handedOver = performance.now();
      expect((await sock.recv()).toString()).toBe("reliable-2");
      const expected = Buffer.concat(streamOf(lines, "b2c"));
      await waitFor(() => raw.allBytes().length >= expected.length, 5000, "the acknowledgements");
      const ackedAfter = performance.now() - handedOver;
      expect(raw.allBytes().toString("hex")).toBe(expected.toString("hex"));
      // docs/protocol.md: the acknowledgement follows the hand-over by ~20 ms, never before it.
      expect(ackedAfter).toBeGreaterThanOrEqual(15);
    });

    it("connect side: sends at-least-once requests with fresh UUIDv4 ids and resends until acknowledged", async () => {
      const lines = await loadVector(`${wire}/connect-sends-at-least-once`);
      const server = await rawServer();
      cleanups.push(() => server.close());
      const sock = new Socket({ identity: CC, protocol: wire, deliveryGuarantee: "at-least-once", resendInterval: 200 });
      cleanups.push(() => sock.close({ linger: 0 }));
      await sock.connect("127.0.0.1", server.port);
      await sock.send("reliable-1");
      await sock.send("reliable-2");
      const raw = await server.next();
      raw.write(streamOf(lines, "b2c")[0]!.subarray(0, wire === "v1" ? 22 : 20)); // the bind side's HELLO only
      const recorded = frames(Buffer.concat(streamOf(lines, "c2b")));
      const got = await raw.waitFrames(3);
      expect(got[0]!.toString("hex")).toBe(recorded[0]!.toString("hex")); // our HELLO, byte for byte
      const ids: Buffer[] = [];
      for (const [i, f] of got.slice(1, 3).entries()) {
        const rec = recorded[i + 1]!;
        expect(f.length).toBe(rec.length);
        const id = wire === "v1" ? f.subarray(1, 17) : f.subarray(0, 16);
        ids.push(Buffer.from(id));
        expect(id[6]! >> 4).toBe(4); // UUID version 4
        expect(id[8]! & 0xc0).toBe(0x80); // RFC 4122 variant
        // Everything but the random id matches the recording.
        const strip = (b: Buffer): string => (wire === "v1" ? Buffer.concat([b.subarray(0, 1), b.subarray(17)]) : b.subarray(16)).toString("hex");
        expect(strip(f)).toBe(strip(rec));
      }
      // Acknowledge only the first; the second must come again, with the same payload.
      raw.frame(wire === "v1" ? Buffer.concat([hexBuf("05"), ids[0]!]) : Buffer.concat([ids[0]!, hexBuf("0052455000")]));
      await raw.waitFrames(4);
      const resent = raw.frames[3]!;
      expect(resent.subarray(-10).toString()).toBe("reliable-2");
      raw.frame(wire === "v1" ? Buffer.concat([hexBuf("05"), resent.subarray(1, 17)]) : Buffer.concat([resent.subarray(0, 16), hexBuf("0052455000")]));
      const dropped: unknown[] = [];
      sock.on("dropped", (d) => dropped.push(d));
      // Everything acknowledged: close() has nothing to wait for and nothing to report.
      await sock.close({ linger: 2000 });
      expect(dropped).toEqual([]);
    });
  });
}
