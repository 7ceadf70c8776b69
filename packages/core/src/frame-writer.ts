/**
 * A connection's write path (as ws keeps sender.js apart from its receiver):
 * frames are packed into slabs, batched into one write per tick (or sooner
 * when a batch is large), and accounted until the transport's callback says
 * they reached the kernel: queued bytes and frames for the peer's room and
 * the socket's write meter, progress for slow-consumer detection, and the
 * batches Node had to buffer, the only frames that can be lost in this
 * process, whose at-most-once payloads are recovered when a write fails or
 * the connection dies. Nothing is kept per message. The Connection
 * (connection.ts) owns one and is told through WriterHost.
 */
import { Buffer } from "node:buffer";
import type { Dialect, FrameSink } from "./dialect.js";
import { FrameDecoder, PREFIX_SIZE } from "./wire/frame.js";
import { copy16 } from "./platform.js";
import type { Transport } from "./transport.js";

/** Bytes accepted for writing and not yet handed to the kernel, shared by a socket's connections. */
export interface WriteMeter {
  bytes: number;
  /**
   * Above 0 while the socket writes a batch of frames in one go (the ACKs
   * owed, the queue drained when room opens): none of them goes at once on
   * its own, so the batch leaves in one write per peer.
   */
  batching: number;
}

/** What the writer tells its connection. */
export interface WriterHost {
  /** Some queued bytes reached the kernel (the meter is already updated): room may have opened. */
  released(): void;
  /** A write failed while the connection was up: end it (close() then takes this batch's payloads as lost). */
  failed(err: Error): void;
  /** At-most-once payloads of a write that failed after an orderly close: not written, to report. */
  unwritten(payloads: Buffer[], err: Error): void;
  /** After close, every write started has settled (written, or reported). */
  settled(): void;
  /** A batch went to the transport (liveness counts it as sent). */
  sent(): void;
}

/** Payloads at least this large are written by reference instead of copied. */
const COPY_LIMIT = 16 * 1024;
/**
 * Slabs start small (Node's shared pool serves allocations under 4 KiB) and
 * grow 4x, up to SLAB_SIZE, while each is used up within SLAB_BUSY_BATCHES
 * flushes; a slab that lasted longer means a quiet peer, whose next slab is
 * small again. An idle connection (heartbeats only) so holds ~512 B for its
 * writes instead of 64 KiB.
 */
const SMALL_SLAB = 512;
const SLAB_SIZE = 64 * 1024;
const SLAB_BUSY_BATCHES = 8;
/**
 * A frame queued while the socket writes nothing else goes at once (a
 * request or a reply does not wait for the tick: measured, echo p50 80
 * against 85 µs on two cores; writing the first frame of each idle peer at
 * once instead made round-robin to 1,000 peers 0.45x as fast). Then a batch
 * is written at once when FLUSH_BYTES wait, or FLUSH_SMALL_BYTES in at least
 * FLUSH_SMALL_FRAMES frames; otherwise at the end of the tick. Small
 * messages so go out in ~64 KiB writes (the receiver starts on one while the
 * next is packed), and large ones four to a writev: one writev per 64 KiB
 * message made four times the syscalls and receiver wake-ups of a raw Node
 * sender's 256 KiB writes (strace: 68 KB per writev against 254 KB), and
 * batching them took TS->TS 64 KiB from 26-37 k to 41-48 k msg/s on this
 * machine. What waits here is counted in highWaterMark like any queued byte.
 */
const FLUSH_BYTES = 256 * 1024;
const FLUSH_SMALL_BYTES = 64 * 1024;
const FLUSH_SMALL_FRAMES = 8;

export const EMPTY = Buffer.alloc(0);

/** A 16-byte message id as four big-endian u32 words (reliability.ts's Reliable is one). */
export interface IdWords {
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  /** The last four bytes. */
  readonly key: number;
}

export class FrameWriter {
  // The fields frame() and the peer's room read come first, together: a hub
  // writes each message to another of its peers, so what one message touches
  // of its writer should sit in as few cache lines as possible (round-robin
  // to 1,000 peers pays a cache miss per line).
  private readonly meter: WriteMeter;
  // Frames are packed into a slab; [slabStart, slabOff) is not yet handed to
  // the transport. `chunks` holds what will go out in the next flush.
  private slab: Buffer = EMPTY;
  private slabOff = 0;
  private pendingBytes = 0;
  private pendingFrames = 0;
  private inflightBytes = 0;
  private inflightFrames = 0;
  private flushQueued = false;
  /** Set by close(): nothing more is written, late callbacks only settle. */
  private closed = false;
  private slabStart = 0;
  private nextSlab = SMALL_SLAB;
  /** batchSeq when the current slab was allocated. */
  private slabSeq = 0;
  private chunks: Buffer[] = [];
  /** The dialect our frames are in (set when the connection first speaks): to read our own frames back. */
  dialect: Dialect | undefined = undefined;
  // Batches Node had to buffer (the kernel did not take them at once), oldest
  // first, until their write callback: the only frames that can be lost in
  // this process if the connection dies. After an orderly close they stay
  // here until their callbacks: one that fails then is reported through
  // WriterHost.unwritten.
  private unwritten: Array<{ seq: number; chunks: Buffer[] }> = [];
  /** close() took the unwritten batches' payloads as lost (an abrupt close). */
  private unwrittenTaken = false;
  private batchSeq = 0;
  private lost: Buffer[] = [];
  /** When queued writes last moved (performance.now()), for slow-consumer detection. */
  private lastProgress = 0;
  /** libuv's count of bytes not yet taken by the kernel, at the last progress check. */
  private lastWriteQueue = -1;
  private readonly transport: Transport;
  private readonly host: WriterHost;

  constructor(transport: Transport, meter: WriteMeter, host: WriterHost) {
    this.meter = meter;
    this.transport = transport;
    this.host = host;
  }

  /** Bytes accepted for this peer and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.pendingBytes + this.inflightBytes;
  }

  /** Frames accepted for this peer and not yet handed to the kernel. */
  get queuedFrames(): number {
    return this.pendingFrames + this.inflightFrames;
  }

  /** After close: no write is left unsettled. */
  get settled(): boolean {
    return this.unwritten.length === 0;
  }

  /** See Heartbeat: -1 when nothing is queued, else when the queue last moved. */
  progress(): number {
    if (this.pendingBytes + this.inflightBytes === 0) return -1;
    // A write larger than the kernel's buffers completes in one callback, but
    // libuv's queue shrinks as each part goes: that is progress too.
    const q = this.transport.progress;
    if (typeof q === "number" && q !== this.lastWriteQueue) {
      this.lastWriteQueue = q;
      this.lastProgress = performance.now();
    }
    return this.lastProgress;
  }

  /** Queue one frame (head + payload), charged to the write meter until it reaches the kernel. */
  frame(head: Uint8Array, payload: Uint8Array): void {
    const off = this.begin(head.length, payload);
    this.close1(put(this.slab, off, head), payload);
  }

  /**
   * Queue one at-least-once frame, `before` + `id` + `after` + payload: the
   * id's words go straight into the frame (no Buffer of its own per message).
   */
  idFrame(before: Uint8Array, id: IdWords, after: Uint8Array, payload: Uint8Array): void {
    let off = this.begin(before.length + 16 + after.length, payload);
    const slab = this.slab;
    off = put(slab, off, before);
    putId(slab, off, id);
    this.close1(put(slab, off + 16, after), payload);
  }

  /** Reserve a frame of `fixed` bytes + `payload` at slabOff and write its length prefix: where its body goes. */
  private begin(fixed: number, payload: Uint8Array): number {
    const bodyLen = fixed + payload.length;
    const need = PREFIX_SIZE + (payload.length >= COPY_LIMIT ? fixed : bodyLen);
    if (this.slab.length - this.slabOff < need) this.newSlab(need);
    putWord(this.slab, this.slabOff, bodyLen);
    return this.slabOff + PREFIX_SIZE;
  }

  /** The frame begun at slabOff has its fixed part up to `off`: the payload follows (copied, or by reference when large). */
  private close1(off: number, payload: Uint8Array): void {
    const total = off - this.slabOff + payload.length;
    if (payload.length >= COPY_LIMIT) this.byReference(off, payload);
    else this.slabOff = put(this.slab, off, payload);
    this.queued(total, 1);
  }

  /**
   * Queue `count` frames whose bodies are `before` + a 16-byte id + `after`,
   * the ids read from `ids` at `from`, `from + 16`... (the ACKs owed to one
   * peer: one call, one reservation and one accounting for the run).
   */
  idFrames(before: Uint8Array, ids: Uint8Array, from: number, count: number, after: Uint8Array): void {
    const bodyLen = before.length + 16 + after.length;
    const total = (PREFIX_SIZE + bodyLen) * count;
    if (this.slab.length - this.slabOff < total) this.newSlab(total);
    const slab = this.slab;
    let off = this.slabOff;
    for (let i = 0, at = from; i < count; i++, at += 16) {
      putWord(slab, off, bodyLen);
      off = put(slab, off + PREFIX_SIZE, before);
      copy16(slab, off, ids, at);
      off = put(slab, off + 16, after);
    }
    this.slabOff = off;
    this.queued(total, count);
  }

  /** `total` bytes in `frames` frames were put in the slab: account for them, and write now, at the tick, or when the batch is large. */
  private queued(total: number, frames: number): void {
    if (this.pendingBytes + this.inflightBytes === 0) this.lastProgress = performance.now();
    this.pendingBytes += total;
    this.pendingFrames += frames;
    this.meter.bytes += total;
    if (this.pendingBytes >= FLUSH_BYTES || (this.pendingBytes >= FLUSH_SMALL_BYTES && this.pendingFrames >= FLUSH_SMALL_FRAMES)) this.flush();
    else if (this.meter.bytes === total && this.meter.batching === 0) {
      // Nothing else being written by the whole socket: this frame goes at
      // once (a request, a reply: no wait for the tick). What follows it
      // while the write is in flight is batched as usual, and so is a burst
      // to many peers (one write per peer per tick, not two).
      this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushTick);
    }
  }

  // The rare branches of frame(), kept out of it so that it stays small enough to inline.

  /** The slab has no room for `need` bytes: the next one (see SMALL_SLAB). */
  private newSlab(need: number): void {
    this.cutSlab();
    this.slab = Buffer.allocUnsafe(Math.max(this.nextSlab, need));
    this.nextSlab = this.batchSeq - this.slabSeq <= SLAB_BUSY_BATCHES ? Math.min(SLAB_SIZE, this.nextSlab * 4) : SMALL_SLAB;
    this.slabSeq = this.batchSeq;
    this.slabStart = 0;
    this.slabOff = 0;
  }

  /** A large payload goes out as its own chunk after the frame's head (which ends at `off`). */
  private byReference(off: number, payload: Uint8Array): void {
    this.slabOff = off;
    this.cutSlab();
    this.chunks.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  }

  private cutSlab(): void {
    if (this.slabOff > this.slabStart) {
      this.chunks.push(this.slab.subarray(this.slabStart, this.slabOff));
      this.slabStart = this.slabOff;
    }
  }

  private readonly flushTick = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /** Hand everything queued to the transport in one write (or one corked writev). */
  flush(): void {
    if (this.pendingBytes === 0 || this.closed) return;
    this.cutSlab();
    const chunks = this.chunks;
    const bytes = this.pendingBytes;
    const frames = this.pendingFrames;
    this.chunks = [];
    this.pendingBytes = 0;
    this.pendingFrames = 0;
    this.inflightBytes += bytes;
    this.inflightFrames += frames;
    const seq = this.batchSeq++;
    const done = (err?: Error): void => {
      if (err !== undefined) {
        this.writeFailed(seq, chunks, err);
        return;
      }
      this.forget(seq);
      // After close the bytes were already released in bulk.
      if (this.closed) return;
      this.inflightBytes -= bytes;
      this.inflightFrames -= frames;
      this.meter.bytes -= bytes;
      this.lastProgress = performance.now();
      this.host.released();
    };
    this.transport.write(chunks, bytes, done);
    if (this.transport.buffered > 0) this.unwritten.push({ seq, chunks });
    this.host.sent();
  }

  /** Batches up to `seq` are settled: stop holding them. */
  private forget(seq: number): void {
    while (this.unwritten.length > 0 && this.unwritten[0]!.seq <= seq) this.unwritten.shift();
    if (this.closed && this.unwritten.length === 0) this.host.settled();
  }

  /**
   * A batch did not (or may not) reach the kernel. While the connection is
   * up, the write error ends it: close() then reports this batch and every
   * later one, whose bytes cannot follow a gap. After an orderly close the
   * batch's payloads are reported on their own; after an abrupt one close()
   * has reported them already.
   */
  private writeFailed(seq: number, chunks: Buffer[], err: Error): void {
    if (!this.closed) {
      let i = this.unwritten.length;
      while (i > 0 && this.unwritten[i - 1]!.seq > seq) i--;
      if (i === 0 || this.unwritten[i - 1]!.seq !== seq) this.unwritten.splice(i, 0, { seq, chunks });
      this.host.failed(err);
      return;
    }
    const held = !this.unwrittenTaken && this.unwritten.some((b) => b.seq === seq);
    if (held) {
      const payloads = this.payloadsOf([chunks]);
      if (payloads.length > 0) this.host.unwritten(payloads, err);
    }
    this.unwritten = this.unwritten.filter((b) => b.seq !== seq);
    if (this.unwritten.length === 0) this.host.settled();
  }

  /**
   * The connection closes: nothing more is written. `abrupt` (a reason, or
   * the transport already gone): frames still in this process die with it,
   * and their at-most-once payloads are kept for takeLost(). Returns the
   * bytes released from the meter.
   */
  close(abrupt: boolean): number {
    this.closed = true;
    if (abrupt) {
      this.lost = this.collectUnwritten();
      this.unwrittenTaken = true;
      this.unwritten = [];
    }
    const held = this.pendingBytes + this.inflightBytes;
    this.pendingBytes = 0;
    this.inflightBytes = 0;
    this.pendingFrames = 0;
    this.inflightFrames = 0;
    this.chunks = [];
    this.meter.bytes -= held;
    return held;
  }

  /**
   * The transport closed after an orderly close: a batch still held has had
   * no callback before the transport went, so nothing says it was written.
   */
  transportClosed(): void {
    const left = this.unwrittenTaken ? [] : this.unwritten;
    this.unwritten = [];
    if (left.length > 0) {
      const payloads = this.payloadsOf(left.map((b) => b.chunks));
      if (payloads.length > 0) this.host.unwritten(payloads, new Error("the connection closed before the write completed"));
    }
  }

  /**
   * At-most-once payloads that never fully left this process before the
   * connection died (a batch cut mid-write may have partly reached the peer),
   * for the socket to report. Empty after an orderly close.
   */
  takeLost(): Buffer[] {
    const out = this.lost;
    this.lost = [];
    return out;
  }

  /** Recover the data payloads of frames that were queued or buffered but not written. */
  private collectUnwritten(): Buffer[] {
    this.cutSlab();
    const batches = this.unwritten.map((b) => b.chunks);
    if (this.chunks.length > 0) batches.push(this.chunks);
    return this.payloadsOf(batches);
  }

  /** The data payloads in `batches` of our frames (all sent after the handshake). */
  private payloadsOf(batches: Buffer[][]): Buffer[] {
    if (batches.length === 0 || this.dialect === undefined) return [];
    // The handshake is not in the batches (the connection writes it directly): every frame here came after it.
    const out: Buffer[] = [];
    const sink: FrameSink = { data: (b, start, end) => out.push(b.subarray(start, end)), request: () => undefined, ack: () => undefined };
    const dialect = this.dialect;
    const decoder = new FrameDecoder((buf, start, end) => {
      try {
        dialect.dispatch(buf, start, end, sink);
      } catch {
        // our own control frames (none is data)
      }
    });
    for (const chunks of batches) for (const c of chunks) decoder.push(c);
    return out;
  }
}

/** A big-endian u32 (a length prefix, an id word) at `off`: four stores, cheaper than writeUInt32BE's checks. */
function putWord(b: Uint8Array, off: number, w: number): void {
  b[off] = w >>> 24;
  b[off + 1] = (w >>> 16) & 0xff;
  b[off + 2] = (w >>> 8) & 0xff;
  b[off + 3] = w & 0xff;
}

/** Put the 16 bytes of `id` at `buf[off..off+16]`. */
export function putId(buf: Uint8Array, off: number, id: IdWords): void {
  putWord(buf, off, id.w0);
  putWord(buf, off + 4, id.w1);
  putWord(buf, off + 8, id.w2);
  putWord(buf, off + 12, id.key);
}

/** Copy `src` into `dst` at `off`: a head of a few bytes by hand, anything longer by set() (measured alone: set() copies 16-64 B in 18-34 ns, a loop in 37-118 ns). */
function put(dst: Buffer, off: number, src: Uint8Array): number {
  const n = src.length;
  if (n < 8) {
    for (let i = 0; i < n; i++) dst[off + i] = src[i]!;
  } else {
    dst.set(src, off);
  }
  return off + n;
}
