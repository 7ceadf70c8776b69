/**
 * Framing shared by both wires (wire.md "Framing"): u32 big-endian length, then
 * that many bytes. The decoder is streaming: TCP reads split frames anywhere
 * (Python writes prefix and body separately), so it keeps partial data as a list
 * of views and copies only a frame that spans reads, once, when it is complete.
 */
import { ProtocolError } from "../errors.js";

export const PREFIX_SIZE = 4;
export const MAX_FRAME_LIMIT = 0xffffffff;

/** Frame a body into a fresh buffer (prefix + body). */
export function encodeFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_SIZE + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, PREFIX_SIZE);
  return out;
}

export type FrameHandler = (body: Buffer) => void;

export class FrameDecoder {
  /** Views of bytes received but not yet part of a complete frame. */
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Body length of the frame being assembled, or -1 while its prefix is incomplete. */
  private need = -1;
  private stopped = false;
  /**
   * While set, a frame longer than `size` is refused with the error `refuse`
   * builds: during a handshake only HELLO-sized frames are allowed, so a peer
   * cannot make the socket buffer megabytes before it has said who it is.
   */
  limit: { size: number; refuse(length: number): ProtocolError } | undefined;

  constructor(
    private readonly onFrame: FrameHandler,
    readonly maxFrameSize: number = MAX_FRAME_LIMIT,
  ) {}

  /** Bytes held for an incomplete frame (non-zero at EOF means a truncated frame). */
  get pending(): number {
    return this.buffered;
  }

  /** Stop delivering frames (the owner closed the connection mid-chunk). */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.buffered = 0;
  }

  /** Feed bytes; calls onFrame for each complete frame. Throws ProtocolError on an oversized prefix. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.buffered === 0) {
      this.parse(chunk, 0);
      return;
    }
    this.parts.push(chunk);
    this.buffered += chunk.length;
    if (this.need < 0) {
      if (this.buffered < PREFIX_SIZE) return;
      this.need = this.readPrefix();
    }
    const total = PREFIX_SIZE + this.need;
    if (this.buffered < total) return;

    // The frame is complete: copy its body once, then parse the rest of the
    // last chunk in place.
    const body = Buffer.allocUnsafe(this.need);
    let skip = PREFIX_SIZE;
    let written = 0;
    let restChunk: Buffer | undefined;
    let restOff = 0;
    for (const part of this.parts) {
      let start = 0;
      if (skip > 0) {
        const s = Math.min(skip, part.length);
        skip -= s;
        start = s;
      }
      const want = this.need - written;
      const take = Math.min(want, part.length - start);
      if (take > 0) {
        part.copy(body, written, start, start + take);
        written += take;
      }
      if (written === this.need && skip === 0 && start + take < part.length) {
        restChunk = part;
        restOff = start + take;
      }
    }
    this.parts = [];
    this.buffered = 0;
    this.need = -1;
    this.onFrame(body);
    if (restChunk !== undefined && !this.stopped) this.parse(restChunk, restOff);
  }

  private parse(buf: Buffer, off: number): void {
    const end = buf.length;
    while (end - off >= PREFIX_SIZE) {
      const len = buf.readUInt32BE(off);
      this.check(len);
      const stop = off + PREFIX_SIZE + len;
      if (stop > end) break;
      this.onFrame(buf.subarray(off + PREFIX_SIZE, stop));
      if (this.stopped) return;
      off = stop;
    }
    if (off < end) {
      const rest = buf.subarray(off);
      this.parts = [rest];
      this.buffered = rest.length;
      this.need = rest.length >= PREFIX_SIZE ? rest.readUInt32BE(0) : -1;
    }
  }

  /** Read the 4-byte prefix that may span parts. */
  private readPrefix(): number {
    let value = 0;
    let got = 0;
    for (const part of this.parts) {
      for (let i = 0; i < part.length && got < PREFIX_SIZE; i++, got++) {
        value = value * 256 + part[i]!;
      }
      if (got === PREFIX_SIZE) break;
    }
    this.check(value);
    return value;
  }

  private check(len: number): void {
    if (len > this.maxFrameSize) {
      this.stop();
      throw new ProtocolError(
        "ERR_AIOMSG_FRAME_TOO_LARGE",
        `frame of ${len} bytes exceeds maxFrameSize ${this.maxFrameSize}`,
      );
    }
    if (this.limit !== undefined && len > this.limit.size) {
      this.stop();
      throw this.limit.refuse(len);
    }
  }
}
