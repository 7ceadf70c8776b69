/**
 * The seam between a connection and its socket: the options a Connection
 * (connection.ts) runs with, and what it may call on its owner (the socket,
 * socket-base.ts) as it learns things: admission, readiness, payloads, ACKs,
 * released write room, unwritten messages and its end.
 */
import type { DialectName } from "./dialect.js";
import type { AiomsgError, ProtocolError } from "./errors.js";
import type { FrameBudget } from "./wire/frame.js";
import type { WriteMeter } from "./frame-writer.js";
import type { Connection } from "./connection.js";

export type ProtocolOption = DialectName | "auto";

export interface ConnectionOptions {
  protocol: ProtocolOption;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  handshakeTimeout: number;
  maxFrameSize: number;
  /** connect ends in "auto" mode speak v1 after this long if the peer has said nothing (see WAKE). */
  autoDetectDelay: number;
  /** Disconnect a peer whose queued writes make no progress for this long. */
  stallTimeout: number;
}

export interface ConnectionOwner {
  readonly identity: Buffer;
  readonly meter: WriteMeter;
  /** Shared by the socket's connections: bytes that partial frames may hold. */
  readonly frameBudget: FrameBudget;
  /** Returns an error to refuse the peer (e.g. its identity is already connected). */
  peerAdmit(conn: Connection): ProtocolError | undefined;
  /** The handshake is done (after peerAdmit accepted it): the peer is open. */
  peerReady(conn: Connection): void;
  /**
   * A payload from the peer: `body` from `start` to `end`. `body` is the
   * read it came in (or the buffer a large frame was assembled in): what a
   * view of the payload keeps alive.
   */
  peerData(conn: Connection, body: Buffer, start: number, end: number): void;
  /** An at-least-once payload (`body` from `start` to `end`), its 16-byte id at `body[idAt..]`. */
  peerRequest(conn: Connection, body: Buffer, idAt: number, start: number, end: number): void;
  /** An ACK of the 16-byte id at `body[idAt..]`. */
  peerAck(conn: Connection, body: Buffer, idAt: number): void;
  /** Some of this connection's queued bytes reached the kernel or were discarded (meters already updated). */
  released(conn: Connection): void;
  /**
   * At-most-once payloads of a write that failed after an orderly close (the
   * peer reset while what was queued still went out): not written, to report.
   */
  peerUnwritten(conn: Connection, payloads: Buffer[], err: Error): void;
  /**
   * The peer half-closed (EOF, a draining peer going away): the last chance
   * to queue what we owe it (ACKs) before this end closes in order too.
   */
  peerEnded?(conn: Connection): void;
  peerClosed(conn: Connection, reason: AiomsgError | undefined): void;
}
