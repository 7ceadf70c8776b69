/**
 * The browser bundle's stand-ins for Node (src/shims/): its small Buffer
 * against Node's Buffer, method by method, byte for byte; its EventEmitter
 * against Node's semantics for the methods a socket uses; the uuid v4 shape.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Buffer as ShimBuffer } from "../src/shims/buffer.js";
import { EventEmitter as ShimEmitter } from "../src/shims/events.js";
import { v4 } from "../src/shims/uuid.js";

const ENCODINGS = ["utf8", "latin1", "hex"] as const;

describe("browser Buffer shim", () => {
  it("toString(utf8|latin1|hex) and from(string, same) give Node's bytes and text for any bytes and strings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: "grapheme", maxLength: 80 }), (bytes, text) => {
        const node = Buffer.from(bytes);
        const shim = ShimBuffer.from(bytes);
        for (const enc of ENCODINGS) {
          expect(shim.toString(enc)).toBe(node.toString(enc));
          expect(Buffer.from(ShimBuffer.from(node.toString(enc), enc)).equals(Buffer.from(node.toString(enc), enc))).toBe(true);
        }
        expect(Buffer.from(ShimBuffer.from(text, "utf8")).equals(Buffer.from(text, "utf8"))).toBe(true);
        expect(Buffer.from(ShimBuffer.from(text, "latin1")).equals(Buffer.from(text, "latin1"))).toBe(true);
        expect(shim.toString()).toBe(node.toString());
      }),
    );
  });

  it("equals, copy, concat, readUInt32BE/writeUInt32BE and subarray behave as Node's", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.nat(70), fc.nat(70), fc.nat(70), fc.nat(0xffffffff), (a, b, t, s, e) => {
        const [na, nb, sa, sb] = [Buffer.from(a), Buffer.from(b), ShimBuffer.from(a), ShimBuffer.from(b)];
        expect(sa.equals(sb)).toBe(na.equals(nb));
        expect(sa.equals(ShimBuffer.from(a))).toBe(true);
        const nt = Buffer.alloc(40);
        const st = ShimBuffer.alloc(40);
        expect(sa.copy(st, Math.min(t, 40), Math.min(s, a.length), Math.max(Math.min(s, a.length), e))).toBe(
          na.copy(nt, Math.min(t, 40), Math.min(s, a.length), Math.max(Math.min(s, a.length), e)),
        );
        expect(Buffer.from(st).equals(nt)).toBe(true);
        expect(Buffer.from(ShimBuffer.concat([sa, sb])).equals(Buffer.concat([na, nb]))).toBe(true);
        expect(Buffer.from(ShimBuffer.concat([sa, sb], 5)).equals(Buffer.concat([na, nb], 5))).toBe(true);
        expect(sa.readUInt32BE(0)).toBe(na.readUInt32BE(0));
        const sub = sa.subarray(1, 3);
        expect(ShimBuffer.isBuffer(sub)).toBe(true);
        sub[0] = 7;
        expect(sa[1]).toBe(7); // a view, as Node's
      }),
    );
    const w = ShimBuffer.alloc(8);
    expect(w.writeUInt32BE(0xdeadbeef, 2)).toBe(6);
    expect(Buffer.from(w).toString("hex")).toBe("0000deadbeef0000");
    expect(() => w.readUInt32BE(5)).toThrow(RangeError);
  });

  it("from(ArrayBuffer, offset, length) is a view; from(array) and from(Uint8Array) copy; alloc fills", () => {
    const ab = new ArrayBuffer(8);
    const v = ShimBuffer.from(ab, 2, 4);
    v[0] = 9;
    expect(new Uint8Array(ab)[2]).toBe(9);
    const src = new Uint8Array([1, 2, 3]);
    const c = ShimBuffer.from(src);
    c[0] = 5;
    expect(src[0]).toBe(1);
    expect([...ShimBuffer.from([1, 2, 300])]).toEqual([1, 2, 44]);
    expect([...ShimBuffer.alloc(3, 7)]).toEqual([7, 7, 7]);
    expect(() => ShimBuffer.from("x", "base64" as never)).toThrow(TypeError);
  });
});

describe("browser EventEmitter shim", () => {
  it("runs listeners in order, removes once() listeners before they run, off() takes a once() listener, and throws an unheard error", () => {
    const e = new ShimEmitter();
    const seen: string[] = [];
    const a = (x: unknown) => seen.push(`a${String(x)}`);
    e.on("m", a);
    e.once("m", (x) => {
      seen.push(`once${String(x)}:${e.listenerCount("m")}`);
      e.emit("m", "nested");
    });
    expect(e.emit("m", 1)).toBe(true);
    expect(seen).toEqual(["a1", "once1:1", "anested"]);
    const b = () => seen.push("b");
    e.once("n", b);
    e.off("n", b);
    expect(e.emit("n")).toBe(false);
    e.removeAllListeners("m");
    expect(e.listenerCount("m")).toBe(0);
    const err = new Error("boom");
    expect(() => e.emit("error", err)).toThrow(err);
  });
});

describe("browser uuid shim", () => {
  it("fills 16 random bytes with the version 4 and RFC 4122 variant bits", () => {
    const ids = Array.from({ length: 64 }, () => Buffer.from(v4(undefined, new Uint8Array(16))));
    for (const id of ids) {
      expect(id[6]! >> 4).toBe(4);
      expect(id[8]! >> 6).toBe(2);
    }
    expect(new Set(ids.map((i) => i.toString("hex"))).size).toBe(64);
  });
});
