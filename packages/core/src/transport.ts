/**
 * The seam between a connection and what carries its bytes (nats.js keeps its
 * transports behind one interface the same way). A transport moves the aiomsg
 * byte stream: bytes in, batched writes with a completion callback (which is
 * how backpressure and progress are seen, and how a failed write reports the
 * batch it lost), pause/resume, and a close with a
 * reason. TCP and TLS streams, the sniffed WebSocket server side of a bind
 * port, the Node WebSocket client and the browser's WebSocket implement it;
 * the connection above knows only the aiomsg handshake and liveness.
 */
import type { AiomsgError } from "./errors.js";

export type TransportKind = "tcp" | "tls" | "ws" | "wss";

export interface TransportHandlers {
  /** Bytes of the aiomsg stream, in order. */
  data(chunk: Buffer): void;
  /**
   * Optional: a buffer the next `min` or more bytes of the stream may be read
   * straight into (the rest of a large frame being assembled), or undefined.
   * A transport that reads there still hands the bytes to data(), as a view
   * of that buffer.
   */
  readTarget?(min: number): Buffer | undefined;
  /** The peer will send nothing more (EOF, or its WebSocket close). */
  end(): void;
  /** The transport failed; an AiomsgError says why in protocol terms. */
  error(err: Error): void;
  /** The transport is gone; nothing more will come. */
  close(): void;
}

/** A batch's completion: no argument when it reached the OS, an error when it may not have. */
export type WriteDone = (err?: Error) => void;

export interface Transport {
  /** What carries the stream now (a sniffed bind port becomes "ws" or "wss" after an upgrade). */
  readonly kind: TransportKind;
  /** Peer address for logs and events. */
  readonly remote: string;
  /** Start delivering events; called once, before anything else. */
  start(handlers: TransportHandlers): void;
  /**
   * Write one batch of chunks (`bytes` in all). `done()` once all of it has
   * been handed to the OS; `done(err)` when it may not have been: the write
   * failed, or the transport closed or was destroyed before it completed.
   * Exactly one call per batch.
   */
  write(chunks: Buffer[], bytes: number, done: WriteDone): void;
  /** Bytes written and not yet handed to the OS: non-zero right after write() means the batch waits here. */
  readonly buffered: number;
  /** A figure that changes whenever buffered bytes move to the OS, for slow-consumer detection; undefined if unknown. */
  readonly progress: number | undefined;
  pause(): void;
  resume(): void;
  /** Close after what was written: FIN, or WebSocket Close 1000. */
  end(): void;
  /**
   * Send FIN after what was written and keep reading until the peer's own
   * FIN (drain). Only where the transport has a half-close (TCP, TLS).
   */
  halfClose?(): void;
  /** Close now; the reason chooses what the peer is told (a WebSocket close code, or HTTP 400 before an upgrade). */
  destroy(reason?: AiomsgError): void;
  /** Over TLS: the certificate the peer presented (undefined when none), and whether it verified against the trusted CAs. */
  peerCertificate?(): { certificate: PeerCertificate | undefined; authorized: boolean } | undefined;
}

/** A peer's TLS certificate as Node's tls.PeerCertificate gives it (the fields most checks need; the rest is there too). */
export interface PeerCertificate {
  subject: Record<string, string | string[]>;
  issuer: Record<string, string | string[]>;
  subjectaltname?: string;
  valid_from: string;
  valid_to: string;
  fingerprint256: string;
  serialNumber: string;
  raw: Uint8Array;
  [field: string]: unknown;
}
