/**
 * TCP and TLS: a Node stream socket as a Transport. Writes are one write (or
 * one corked writev) per batch; libuv's write queue size is the progress
 * figure, since a write larger than the kernel's buffers completes in one
 * callback while its parts go out.
 */
import type { Socket as NetSocket } from "node:net";
import { TLSSocket } from "node:tls";
import type { AiomsgError } from "../errors.js";
import type { PeerCertificate, Transport, TransportHandlers, TransportKind, WriteDone } from "../transport.js";

/** A peer that never reads must not keep a socket we are ending forever. */
export const END_LINGER_MS = 2000;

/**
 * A connection starts reading into our buffers when a frame with at least
 * this much still to come begins: smaller frames keep Node's reads.
 */
const DIRECT_START = 128 * 1024;
/**
 * Then reads go straight into a large frame's buffer while at least this much
 * of it is missing: below that, one more read into a slab and a short copy
 * cost less than a read cut at the frame's end.
 */
const DIRECT_MIN = 64 * 1024;
/** Reads that are not into a frame fill slabs of this size, each read from where the last ended. */
const SLAB_SIZE = 64 * 1024;
/** A slab with less room than this left is replaced by a fresh one. */
const SLAB_MIN_READ = 16 * 1024;

/**
 * Node's user-buffer reads (net.Socket's `onread` option): the socket reads
 * into a buffer the application gives it, and asks for the next one after
 * each read. Only `new net.Socket()` and `net.connect()` take the option, so
 * for accepted sockets too it is reached through the socket's own fields
 * (the symbols Node keeps it in) and its handle's `useUserBuffer`. Undefined
 * where this Node lacks them: reads then stay Node's.
 */
interface UserReads {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
}
let userReads: UserReads | null | undefined;

function userReadsOf(sock: NetSocket): UserReads | undefined {
  if (userReads === undefined) {
    const syms = Object.getOwnPropertySymbols(sock);
    const find = (name: string): symbol | undefined => syms.find((s) => s.description === name);
    const [kBuffer, kBufferCb, kBufferGen] = [find("kBuffer"), find("kBufferCb"), find("kBufferGen")];
    userReads = kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : null;
  }
  if (userReads === null) return undefined;
  const fields = sock as unknown as Record<symbol, unknown>;
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (fields[userReads.kBuffer] !== null || fields[userReads.kBufferCb] !== null || typeof handle?.useUserBuffer !== "function") return undefined;
  return userReads;
}

/**
 * What every transport over a Node stream socket shares: events, buffered
 * bytes, progress, pause and resume. Subclasses say how bytes in become the
 * aiomsg stream (`receive`) and how a batch is framed (`write`).
 */
export abstract class NodeStreamTransport implements Transport {
  abstract readonly kind: TransportKind;
  readonly remote: string;
  protected h!: TransportHandlers;

  constructor(protected readonly sock: NetSocket) {
    this.remote = `${sock.remoteAddress ?? "?"}:${sock.remotePort ?? "?"}`;
  }

  peerCertificate(): { certificate: PeerCertificate | undefined; authorized: boolean } | undefined {
    const s = this.sock;
    if (!(s instanceof TLSSocket)) return undefined;
    const c = s.getPeerCertificate();
    return { certificate: c && Object.keys(c).length > 0 ? (c as unknown as PeerCertificate) : undefined, authorized: s.authorized };
  }

  start(h: TransportHandlers): void {
    this.h = h;
    const sock = this.sock;
    sock.setNoDelay(true);
    sock.on("data", this.onData);
    sock.on("end", h.end);
    sock.on("error", h.error);
    sock.on("close", h.close);
  }

  protected readonly onData = (chunk: Buffer): void => {
    try {
      this.receive(chunk);
    } catch (err) {
      this.h.error(err as Error);
      return;
    }
    if (this.directReads && this.slab === undefined) this.maybeReadDirect();
  };

  /**
   * Plain TCP carrying the aiomsg stream as is (set by the subclass): a large
   * frame may be read straight into its buffer. Node's reads are 64 KiB
   * buffers that the frame would otherwise be copied out of, each allocated,
   * wrapped and passed through the stream machinery: at 16 MiB that was most
   * of the receiver's CPU after the kernel's own copy.
   */
  protected directReads = false;
  /** Set once the socket reads into our buffers: the slab that reads outside a frame go to. */
  private slab: Buffer | undefined;
  private slabOff = 0;
  /** The read in progress goes to the slab (else to a frame's buffer). */
  private readToSlab = false;

  /**
   * Switch the socket to reading into our buffers when a large frame has
   * begun, nothing is waiting in Node's stream buffer (which would then come
   * after what we read) and reading is on. For good: Node cannot switch
   * back, so from then on the reads outside frames fill slabs (see nextRead).
   */
  private maybeReadDirect(): void {
    const sock = this.sock;
    const target = this.h.readTarget?.(DIRECT_START);
    if (target === undefined || sock.readableLength > 0 || !sock.readableFlowing || sock.destroyed) return;
    const k = userReadsOf(sock);
    if (k === undefined) {
      this.directReads = false;
      return;
    }
    const fields = sock as unknown as Record<symbol, unknown>;
    try {
      // First, so that a handle without user-buffer reads leaves the socket as it was.
      (sock as unknown as { _handle: { useUserBuffer(buf: Buffer): void } })._handle.useUserBuffer(target);
    } catch {
      this.directReads = false;
      return;
    }
    this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    this.slabOff = 0;
    this.readToSlab = false;
    fields[k.kBuffer] = target;
    fields[k.kBufferCb] = this.onRead;
    fields[k.kBufferGen] = this.nextRead;
  }

  /** A read into our buffer: `nread` bytes at the start of `buf` (what nextRead gave). */
  private readonly onRead = (nread: number, buf: Buffer): void => {
    if (this.readToSlab) this.slabOff += nread;
    this.onData(buf.subarray(0, nread));
  };

  /** Where the next read goes: the rest of the frame being assembled, or the free part of the slab. */
  private readonly nextRead = (): Buffer => {
    let next = this.h.readTarget?.(DIRECT_MIN);
    this.readToSlab = next === undefined;
    if (next === undefined) {
      if (this.slab!.length - this.slabOff < SLAB_MIN_READ) {
        this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
        this.slabOff = 0;
      }
      next = this.slab!.subarray(this.slabOff);
    }
    return next;
  };

  /** Bytes read from the socket; throws a coded error when they break the transport's rules. */
  protected abstract receive(chunk: Buffer): void;

  abstract write(chunks: Buffer[], bytes: number, done: WriteDone): void;

  get buffered(): number {
    return this.sock.writableLength;
  }

  get progress(): number | undefined {
    return writeQueueSize(this.sock);
  }

  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }

  abstract end(): void;
  abstract destroy(reason?: AiomsgError): void;
}

export class StreamTransport extends NodeStreamTransport {
  readonly kind: TransportKind;

  constructor(sock: NetSocket) {
    super(sock);
    this.kind = sock instanceof TLSSocket ? "tls" : "tcp";
    this.directReads = this.kind === "tcp";
  }

  protected receive(chunk: Buffer): void {
    this.h.data(chunk);
  }

  write(chunks: Buffer[], _bytes: number, done: WriteDone): void {
    writeBatch(this.sock, chunks, done);
  }

  end(): void {
    endSocket(this.sock);
  }

  halfClose(): void {
    // The peer's FIN ('end') then closes the connection, which ends it for good (end()).
    this.sock.end();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/**
 * One write, or one corked writev, with `done` on the last chunk. Node
 * reports a failed write with an error, but a write still queued in libuv
 * when the socket is destroyed (a reset read first, or endSocket's linger)
 * completes with no error at all: such a batch is reported as cut, since
 * nothing says how much of it reached the kernel. A batch the kernel took at
 * once (nothing left in Node's buffer) was written, whatever happens next.
 */
export function writeBatch(sock: NetSocket, chunks: Buffer[], done: WriteDone): void {
  let queued = false;
  const cb = (err?: Error | null): void => {
    if (err) done(err);
    else if (queued && sock.destroyed) done(new Error("the connection was destroyed before the write completed"));
    else done();
  };
  if (chunks.length === 1) {
    sock.write(chunks[0]!, cb);
  } else {
    sock.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) sock.write(chunks[i]!);
    sock.write(chunks[last]!, cb);
    sock.uncork();
  }
  queued = sock.writableLength > 0;
}

/** FIN after what was written, and destroy once the peer has had END_LINGER_MS to take it. */
export function endSocket(sock: NetSocket): void {
  sock.end(() => sock.destroy());
  setTimeout(() => sock.destroy(), END_LINGER_MS).unref();
}

/** libuv's count of bytes not yet taken by the kernel (internal, but what Node's own socket timeouts watch). */
export function writeQueueSize(sock: NetSocket): number | undefined {
  const q = (sock as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize;
  return typeof q === "number" ? q : undefined;
}
