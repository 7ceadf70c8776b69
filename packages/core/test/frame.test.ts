import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FrameDecoder, bodies, encodeFrame, ProtocolError } from "../src/index.js";

function decodeAll(chunks: Uint8Array[], max?: number): Buffer[] {
  const out: Buffer[] = [];
  const d = new FrameDecoder(bodies((b) => out.push(Buffer.from(b))), max);
  for (const c of chunks) d.push(Buffer.from(c));
  return out;
}

/** Split `buf` at the given cut points (sorted, deduplicated, within bounds). */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}

describe("frame codec", () => {
  it("encodes a u32 big-endian length prefix", () => {
    expect(encodeFrame(Buffer.from("hello")).toString("hex")).toBe("0000000568656c6c6f");
    expect(encodeFrame(Buffer.alloc(0)).toString("hex")).toBe("00000000");
  });

  it("decodes frames split anywhere, including inside the prefix", () => {
    const stream = Buffer.concat([encodeFrame(Buffer.from("ab")), encodeFrame(Buffer.alloc(0)), encodeFrame(Buffer.from("xyz"))]);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const got = decodeAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        expect(got.map((b) => b.toString())).toEqual(["ab", "", "xyz"]);
      }
    }
  });

  it("property: any split of a valid stream decodes identically", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
          const whole = decodeAll([stream]);
          const split = decodeAll(splitAt(stream, cuts));
          expect(split).toEqual(whole);
          expect(whole.map((b) => b.toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("property: one-byte reads decode identically to one read", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (bodies) => {
        const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
        const bytes = [...stream].map((x) => Uint8Array.of(x));
        expect(decodeAll(bytes)).toEqual(decodeAll([stream]));
      }),
    );
  });

  it("rejects a prefix beyond maxFrameSize as soon as the prefix is read", () => {
    const d = new FrameDecoder(() => undefined, 1024);
    expect(() => d.push(Buffer.from("ffffffff", "hex"))).toThrowError(
      expect.objectContaining({ code: "ERR_AIOMSG_FRAME_TOO_LARGE" }),
    );
    const d2 = new FrameDecoder(() => undefined, 1024);
    d2.push(Buffer.from("0000", "hex"));
    expect(() => d2.push(Buffer.from("0401", "hex"))).toThrow(ProtocolError);
  });

  it("property: random bytes only ever raise ProtocolError", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const d = new FrameDecoder(() => undefined, 4096);
        try {
          for (const c of chunks) d.push(Buffer.from(c));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });

  it("copies a frame spanning many reads once, at the right size", () => {
    const body = Buffer.alloc(1_000_000);
    for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
    const stream = encodeFrame(body);
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length; off += 65536) chunks.push(stream.subarray(off, off + 65536));
    const got = decodeAll(chunks);
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(body)).toBe(true);
  });

  it("readTarget gives the rest of a spanning frame, and bytes read into it are delivered in that buffer", () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const stream = Buffer.concat([encodeFrame(body), encodeFrame(Buffer.from("after"))]);
    const got: Buffer[] = [];
    const d = new FrameDecoder(bodies((b) => got.push(b)));
    expect(d.readTarget(1)).toBeUndefined(); // no frame begun
    d.push(stream.subarray(0, 1000));
    let off = 1000;
    let frameBuffer: ArrayBufferLike | undefined;
    // Read the rest of the frame the way a transport would: into the target, in three parts.
    for (const part of [100_000, 150_000]) {
      const target = d.readTarget(1)!;
      expect(target.length).toBe(4 + body.length - off);
      frameBuffer ??= target.buffer;
      expect(target.buffer).toBe(frameBuffer);
      stream.copy(target, 0, off, off + part);
      d.push(target.subarray(0, part));
      off += part;
    }
    const last = d.readTarget(1)!;
    expect(d.readTarget(last.length + 1)).toBeUndefined(); // less than asked for is left
    const n = 4 + body.length - off;
    stream.copy(last, 0, off, off + n);
    d.push(last.subarray(0, n));
    off += n;
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(body)).toBe(true);
    expect(got[0]!.buffer).toBe(frameBuffer);
    expect(d.readTarget(1)).toBeUndefined(); // the frame is complete
    d.push(stream.subarray(off));
    expect(got.map((b) => b.toString("latin1")).slice(1)).toEqual(["after"]);
  });

  it("readTarget gives nothing while paused or holding bytes, so that no held byte is overwritten", () => {
    const body = Buffer.alloc(200_000, 0x5a);
    const stream = encodeFrame(body);
    const got: Buffer[] = [];
    const d = new FrameDecoder(bodies((b) => got.push(Buffer.from(b))));
    d.push(stream.subarray(0, 5000));
    expect(d.readTarget(1)).toBeDefined();
    d.pause();
    expect(d.readTarget(1)).toBeUndefined();
    d.push(stream.subarray(5000, 9000)); // bytes that still come while paused are held
    d.resume();
    expect(d.readTarget(1)!.length).toBe(stream.length - 9000);
    d.push(stream.subarray(9000));
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(body)).toBe(true);
  });

  it("reports the bytes of an unfinished frame (truncation at EOF)", () => {
    const d = new FrameDecoder(() => undefined);
    d.push(Buffer.from("0000000568656c", "hex"));
    expect(d.pending).toBe(7);
    d.push(Buffer.from("6c6f", "hex"));
    expect(d.pending).toBe(0);
  });
});
