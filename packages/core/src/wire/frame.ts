/**
 * Framing shared by every wire generation (docs/protocol.md "Framing"): u32 big-endian length, then
 * that many bytes. The decoder is streaming: TCP reads split frames anywhere
 * (Python writes prefix and body separately).
 *
 * Memory rules (they are what makes the receive side boundable):
 * - A frame that lies inside one read is handed out as a view of that read.
 * - A frame that spans reads is copied, as its bytes arrive, into one buffer of
 *   exactly its size: partial data costs its own bytes, however small the reads
 *   it came in, and is never copied twice.
 *   The owner may read the rest of it straight into that buffer (readTarget):
 *   then it is not copied at all.
 * - A spanning frame larger than `allowance` must first reserve its size from a
 *   shared {@link FrameBudget}; until it gets it, the rest of the read is held
 *   and the owner is told to stop reading (TCP backpressure).
 * - `pause()` stops parsing after the current frame; the unparsed rest of the
 *   read is held (one read at most) until `resume()`.
 */
import { Buffer } from "node:buffer";
import { ProtocolError } from "../errors.js";

export const PREFIX_SIZE = 4;
export const MAX_FRAME_LIMIT = 0xffffffff;
/** Spanning frames up to this size need no reservation (about one read). */
export const FRAME_ALLOWANCE = 64 * 1024;

/** Frame a body into a fresh buffer (prefix + body). */
export function encodeFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_SIZE + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, PREFIX_SIZE);
  return out;
}

/**
 * Called with each whole frame: its body is `buf` from `start` to `end`.
 * `buf` is the read the frame lay in, or the buffer a spanning frame was
 * assembled in: what keeping a view of the body keeps alive. No view is made
 * per frame here (the receiver makes the one it needs, for a payload).
 */
export type FrameHandler = (buf: Buffer, start: number, end: number) => void;

/** A FrameHandler for code that wants each body as a Buffer of its own view. */
export function bodies(onBody: (body: Buffer) => void): FrameHandler {
  return (buf, start, end) => onBody(buf.subarray(start, end));
}

/**
 * Bytes that partially received frames may hold, shared by the connections of
 * a socket. `reserve` either grants all of `bytes` or queues `wake`, which is
 * called once when the grant can be retried.
 */
export interface FrameBudget {
  reserve(bytes: number, wake: () => void): boolean;
  release(bytes: number): void;
  cancel(wake: () => void): void;
}

export interface DecoderHooks {
  /** The decoder waits for frame budget: stop reading until `resume()`. */
  blocked(): void;
  /** Budget is available again: the owner should call `resume()` (and read again). */
  unblocked(): void;
}

export class FrameDecoder {
  // Frame being assembled across reads.
  private body: Buffer | undefined;
  private filled = 0;
  /** Budget reserved for `body` (0 for frames within the allowance). */
  private reserved = 0;
  // A length prefix split across reads.
  private readonly head = Buffer.alloc(PREFIX_SIZE);
  private headLen = 0;
  /** Length of a spanning frame waiting for budget (its prefix is consumed), or -1. */
  private waitingLen = -1;
  /** Unparsed rest of a read, kept while paused or waiting for budget. */
  private held: Buffer | undefined;
  private paused = false;
  private stopped = false;
  private final = false;
  private readonly onBudget = (): void => this.hooks?.unblocked();
  /**
   * While set, a frame longer than `size` is refused with the error `refuse`
   * builds: during a handshake only HELLO-sized frames are allowed, so a peer
   * cannot make the socket buffer megabytes before it has said who it is.
   */
  limit: { size: number; refuse(length: number): ProtocolError; foreign?(prefix: number): ProtocolError | undefined } | undefined;

  constructor(
    private readonly onFrame: FrameHandler,
    readonly maxFrameSize: number = MAX_FRAME_LIMIT,
    private readonly budget?: FrameBudget,
    private readonly hooks?: DecoderHooks,
    private readonly allowance = FRAME_ALLOWANCE,
  ) {}

  /** Bytes received that are not yet part of a delivered frame (non-zero at EOF means a truncated frame). */
  get pending(): number {
    const assembling = this.body !== undefined ? PREFIX_SIZE + this.filled : this.waitingLen >= 0 ? PREFIX_SIZE : this.headLen;
    return assembling + (this.held?.length ?? 0);
  }

  /** Whether parsing is suspended with bytes held (paused, or waiting for budget). */
  get holding(): boolean {
    return this.held !== undefined || this.waitingLen >= 0;
  }

  /**
   * Where the next `min` or more bytes of the stream may be read straight to:
   * the unfilled rest of the spanning frame being assembled, while nothing is
   * held or paused (so that those bytes come next), else undefined. Bytes read
   * there and then pushed as a view of it are not copied again.
   */
  readTarget(min: number): Buffer | undefined {
    const body = this.body;
    if (body === undefined || this.paused || this.stopped || this.held !== undefined || body.length - this.filled < min) return undefined;
    return body.subarray(this.filled);
  }

  /** Stop delivering frames (the owner closed the connection mid-chunk) and give back any budget. */
  stop(): void {
    this.stopped = true;
    this.body = undefined;
    this.held = undefined;
    this.headLen = 0;
    this.filled = 0;
    if (this.waitingLen >= 0) this.budget?.cancel(this.onBudget);
    this.waitingLen = -1;
    if (this.reserved > 0) {
      this.budget!.release(this.reserved);
      this.reserved = 0;
    }
  }

  /** Stop parsing after the frame being delivered; the rest of the read is kept. */
  pause(): void {
    this.paused = true;
  }

  /**
   * Parse what was held; may call onFrame, and may pause or block again.
   * `final` (the peer has gone): deliver the complete frames held, but start
   * no frame that needs budget, since it can no longer complete.
   */
  resume(final = false): void {
    this.final = final;
    this.paused = false;
    if (this.stopped) return;
    const rest = this.held;
    this.held = undefined;
    if (this.waitingLen >= 0) {
      const len = this.waitingLen;
      this.waitingLen = -1;
      if (!this.startBody(len)) {
        this.held = rest;
        return;
      }
    }
    if (rest !== undefined) this.parse(rest, 0);
  }

  /** Feed bytes; calls onFrame for each complete frame. Throws ProtocolError on an oversized prefix. */
  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    if (this.held !== undefined || this.waitingLen >= 0 || this.paused) {
      // The owner stops reading when told to; bytes that still come are appended.
      this.held = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
      return;
    }
    this.parse(chunk, 0);
  }

  private parse(buf: Buffer, off: number): void {
    const end = buf.length;
    while (off < end) {
      if (this.stopped) return;
      if (this.paused) {
        this.held = buf.subarray(off);
        return;
      }
      if (this.body !== undefined) {
        const take = Math.min(this.body.length - this.filled, end - off);
        // Bytes read straight into the frame's buffer (readTarget) are in place already.
        if (buf.buffer !== this.body.buffer || buf.byteOffset + off !== this.body.byteOffset + this.filled) {
          buf.copy(this.body, this.filled, off, off + take);
        }
        this.filled += take;
        off += take;
        if (this.filled < this.body.length) return;
        this.finishBody();
        continue;
      }
      let len: number;
      if (this.headLen > 0) {
        while (this.headLen < PREFIX_SIZE && off < end) this.head[this.headLen++] = buf[off++]!;
        if (this.headLen < PREFIX_SIZE) return;
        this.headLen = 0;
        len = this.head.readUInt32BE(0);
        this.check(len);
      } else {
        if (end - off < PREFIX_SIZE) {
          while (off < end) this.head[this.headLen++] = buf[off++]!;
          return;
        }
        len = buf.readUInt32BE(off);
        this.check(len);
        if (end - off - PREFIX_SIZE >= len) {
          const start = off + PREFIX_SIZE;
          off = start + len;
          this.onFrame(buf, start, off);
          continue;
        }
        off += PREFIX_SIZE;
      }
      // A frame that spans reads (or whose prefix did).
      if (end - off >= len) {
        this.onFrame(buf, off, off + len);
        off += len;
        continue;
      }
      if (!this.startBody(len)) {
        this.held = off < end ? buf.subarray(off) : undefined;
        return;
      }
    }
  }

  /** Allocate the buffer of a spanning frame, reserving budget for a large one; false while it waits. */
  private startBody(len: number): boolean {
    if (len > this.allowance && this.budget !== undefined) {
      if (this.final || !this.budget.reserve(len, this.onBudget)) {
        this.waitingLen = len;
        if (!this.final) this.hooks?.blocked();
        return false;
      }
      this.reserved = len;
    }
    this.body = Buffer.allocUnsafe(len);
    this.filled = 0;
    return true;
  }

  private finishBody(): void {
    const body = this.body!;
    this.body = undefined;
    this.filled = 0;
    const reserved = this.reserved;
    this.reserved = 0;
    if (reserved > 0) this.budget!.release(reserved);
    this.onFrame(body, 0, body.length);
  }

  private check(len: number): void {
    const limit = this.limit;
    if (limit !== undefined && len > limit.size) {
      // Before a handshake, a prefix may be another protocol altogether, which its error can name.
      const foreign = limit.foreign?.(len);
      if (foreign !== undefined) {
        this.stop();
        throw foreign;
      }
    }
    if (len > this.maxFrameSize) {
      this.stop();
      throw new ProtocolError(
        "ERR_AIOMSG_FRAME_TOO_LARGE",
        `frame of ${len} bytes exceeds maxFrameSize ${this.maxFrameSize}`,
      );
    }
    if (limit !== undefined && len > limit.size) {
      this.stop();
      throw limit.refuse(len);
    }
  }
}

/** A socket's budget for partial frames: all-or-nothing grants, waiters woken in order. */
export class SharedFrameBudget implements FrameBudget {
  private used = 0;
  private waiters: Array<{ wake: () => void; bytes: number }> = [];
  /** Granted to woken waiters until they retry, so that no one else takes it meanwhile. */
  private promised = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  reserve(bytes: number, wake: () => void): boolean {
    const w = this.waiters.find((x) => x.wake === wake);
    if (w !== undefined && w.bytes < 0) {
      // A woken waiter retrying: its grant was set aside when it was woken.
      this.waiters.splice(this.waiters.indexOf(w), 1);
      this.promised -= bytes;
      this.used += bytes;
      return true;
    }
    if (w === undefined && this.waiters.length === 0 && this.used + this.promised + bytes <= this.capacity) {
      this.used += bytes;
      return true;
    }
    if (w === undefined) this.waiters.push({ wake, bytes });
    return false;
  }

  release(bytes: number): void {
    this.used -= bytes;
    // Wake waiters in order while their requests fit, setting their grants aside.
    for (const w of this.waiters) {
      if (w.bytes < 0) continue;
      if (this.used + this.promised + w.bytes > this.capacity) break;
      this.promised += w.bytes;
      w.bytes = -w.bytes;
      w.wake();
    }
  }

  cancel(wake: () => void): void {
    const i = this.waiters.findIndex((x) => x.wake === wake);
    if (i < 0) return;
    const [w] = this.waiters.splice(i, 1);
    if (w!.bytes < 0) {
      // Woken but gone before retrying: its grant goes to the next in line.
      this.promised += w!.bytes;
      this.release(0);
    }
  }
}
