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
    }
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
