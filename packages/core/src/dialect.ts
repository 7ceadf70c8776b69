/**
 * A wire dialect is a strategy chosen per connection: the connection
 * asks it how to frame HELLO, heartbeats, data and acknowledgements, and how to
 * classify an incoming frame. Adding a dialect means adding one file in wire/
 * and its line in wire/dialects.ts.
 */
export type DialectName = "v1" | "legacy" | "early";

/** Receives what a dialect finds in a frame; no per-frame objects are allocated. */
export interface FrameSink {
  /** A payload: the bytes of `body` from `start` to `end` (no view is made here; the receiver decides). */
  data(body: Buffer, start: number, end: number): void;
  /** An at-least-once payload, `body` from `start` to `end`; its 16-byte message id at `body[idAt..idAt+16]`. */
  request(body: Buffer, idAt: number, start: number, end: number): void;
  /** An acknowledgement of the 16-byte message id at `body[idAt..idAt+16]`. */
  ack(body: Buffer, idAt: number): void;
}

export interface Dialect {
  readonly name: DialectName;
  /** Whether its peers may use the WebSocket sub-transport. */
  readonly websocket: boolean;
  /** Body of this end's handshake frame. */
  hello(identity: Uint8Array): Buffer;
  /** Validate the peer's first frame and return its identity (16 bytes on v1, 1 byte or more on legacy and early); throws ProtocolError. */
  parseHello(body: Buffer): Buffer;
  /** Body of a heartbeat frame. */
  readonly heartbeat: Buffer;
  /** Bytes written before an at-most-once payload (may be empty). */
  readonly dataHead: Buffer;
  /**
   * An at-least-once frame body is requestBefore + id + requestAfter +
   * payload, an acknowledgement ackBefore + id + ackAfter: constants around
   * the id, so that nothing is allocated per message.
   */
  readonly requestBefore: Uint8Array;
  readonly requestAfter: Uint8Array;
  readonly ackBefore: Uint8Array;
  readonly ackAfter: Uint8Array;
  /**
   * Classify a frame after the handshake: the frame's body is `buf` from
   * `start` to `end` (a span of the read it came in, so that no view is made
   * per frame). Throws ProtocolError when the connection must close.
   */
  dispatch(buf: Buffer, start: number, end: number, sink: FrameSink): void;
}

export const IDENTITY_SIZE = 16;
/**
 * The handshake is bounded: until a peer's handshake is accepted, no frame may
 * be longer than this (4 KiB), whatever the dialect. A v1 HELLO may carry
 * bytes after its identity (reserved for future fields: they are ignored), a
 * legacy or early identity may have any length from 1 byte: all up to this
 * limit. A longer first frame closes the connection (ERR_AIOMSG_BAD_HELLO,
 * or ERR_AIOMSG_UNKNOWN_DIALECT before the dialect is known).
 */
export const MAX_HELLO_SIZE = 4096;
export const MSG_ID_SIZE = 16;
