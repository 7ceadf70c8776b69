/**
 * The part of Node's Buffer that the core uses, for the browser bundle
 * (build-browser.mjs injects it as the global `Buffer`; the page's globals
 * are untouched): a Uint8Array subclass with the statics from, alloc,
 * allocUnsafe, concat and isBuffer, and the methods toString and from()
 * with "utf8", "latin1" and "hex", equals, copy, readUInt32BE and
 * writeUInt32BE. subarray() returns this class (Uint8Array's species), and
 * is a view, as Node's is. Anything else is missing on purpose (the bundle
 * stays small); packages/core/test/browser-shims.test.ts holds these methods
 * to Node's Buffer byte for byte.
 */
type Encoding = "utf8" | "utf-8" | "latin1" | "binary" | "hex";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function badEncoding(enc: string): never {
  throw new TypeError(`unsupported encoding in the browser bundle: ${enc}`);
}

export class Buffer extends Uint8Array {
  static from(value: string, encoding?: Encoding): Buffer;
  static from(value: ArrayBufferLike, byteOffset?: number, length?: number): Buffer;
  static from(value: ArrayLike<number> | Uint8Array): Buffer;
  static from(value: unknown, a?: unknown, b?: unknown): Buffer {
    if (typeof value === "string") return fromString(value, (a as Encoding | undefined) ?? "utf8");
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      const off = (a as number | undefined) ?? 0;
      return new Buffer(value as ArrayBuffer, off, (b as number | undefined) ?? (value as ArrayBuffer).byteLength - off);
    }
    const src = value as ArrayLike<number>;
    const out = new Buffer(src.length);
    out.set(src);
    return out;
  }

  static alloc(size: number, fill?: number): Buffer {
    const out = new Buffer(size);
    if (fill !== undefined && fill !== 0) out.fill(fill);
    return out;
  }

  static allocUnsafe(size: number): Buffer {
    return new Buffer(size);
  }

  static isBuffer(value: unknown): value is Buffer {
    return value instanceof Buffer;
  }

  static concat(list: readonly Uint8Array[], total?: number): Buffer {
    if (total === undefined) {
      total = 0;
      for (const b of list) total += b.length;
    }
    const out = new Buffer(total);
    let off = 0;
    for (const b of list) {
      if (off >= total) break;
      const part = b.length <= total - off ? b : b.subarray(0, total - off);
      out.set(part, off);
      off += part.length;
    }
    return out;
  }

  override toString(encoding: Encoding = "utf8", start = 0, end = this.length): string {
    const bytes = start === 0 && end === this.length ? this : this.subarray(start, end);
    switch (encoding) {
      case "utf8":
      case "utf-8":
        return decoder.decode(bytes);
      case "latin1":
      case "binary": {
        let s = "";
        for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
        return s;
      }
      case "hex": {
        let s = "";
        for (let i = 0; i < bytes.length; i++) s += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
        return s;
      }
      default:
        return badEncoding(encoding);
    }
  }

  equals(other: Uint8Array): boolean {
    if (other.length !== this.length) return false;
    for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false;
    return true;
  }

  copy(target: Uint8Array, targetStart = 0, sourceStart = 0, sourceEnd = this.length): number {
    const n = Math.max(0, Math.min(sourceEnd, this.length) - sourceStart, 0);
    const count = Math.min(n, target.length - targetStart);
    if (count <= 0) return 0;
    target.set(this.subarray(sourceStart, sourceStart + count), targetStart);
    return count;
  }

  readUInt32BE(offset = 0): number {
    if (offset < 0 || offset + 4 > this.length) throw new RangeError(`readUInt32BE offset ${offset} out of range`);
    return this[offset]! * 0x1000000 + ((this[offset + 1]! << 16) | (this[offset + 2]! << 8) | this[offset + 3]!);
  }

  writeUInt32BE(value: number, offset = 0): number {
    if (offset < 0 || offset + 4 > this.length) throw new RangeError(`writeUInt32BE offset ${offset} out of range`);
    this[offset] = value >>> 24;
    this[offset + 1] = (value >>> 16) & 0xff;
    this[offset + 2] = (value >>> 8) & 0xff;
    this[offset + 3] = value & 0xff;
    return offset + 4;
  }
}

function fromString(s: string, encoding: Encoding): Buffer {
  switch (encoding) {
    case "utf8":
    case "utf-8": {
      const b = encoder.encode(s);
      return new Buffer(b.buffer, b.byteOffset, b.byteLength);
    }
    case "latin1":
    case "binary": {
      const out = new Buffer(s.length);
      for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
      return out;
    }
    case "hex": {
      const n = s.length >>> 1;
      const out = new Buffer(n);
      for (let i = 0; i < n; i++) {
        const v = parseInt(s.substr(2 * i, 2), 16);
        if (Number.isNaN(v)) return out.subarray(0, i);
        out[i] = v;
      }
      return out;
    }
    default:
      return badEncoding(encoding);
  }
}
