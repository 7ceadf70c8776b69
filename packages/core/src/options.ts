/**
 * Socket options: what each one means, its default, and the checks that make
 * a bad value fail at construction (UsageError, ERR_AIOMSG_INVALID_OPTION).
 */
import { v4 as uuidv4 } from "uuid";
import type { ConnectionOptions, ProtocolOption } from "./connection.js";
import { IDENTITY_SIZE } from "./dialect.js";
import { UsageError } from "./errors.js";
import { DIALECT_NAMES, isDialectName } from "./wire/dialects.js";
import type { AdmissionRequest, AdmissionToken, AdmitHook } from "./socket-types.js";

export const SendMode = {
  PUBLISH: "publish",
  ROUND_ROBIN: "roundrobin",
} as const;
export type SendMode = (typeof SendMode)[keyof typeof SendMode];

export const DeliveryGuarantee = {
  AT_MOST_ONCE: "at-most-once",
  AT_LEAST_ONCE: "at-least-once",
} as const;
export type DeliveryGuarantee = (typeof DeliveryGuarantee)[keyof typeof DeliveryGuarantee];

export interface SocketOptions {
  /** Where sends without an identity go. Default round-robin (as Python). */
  sendMode?: SendMode;
  /**
   * Default at-most-once. With publish, as in Python: published messages go
   * out at-most-once (DATA, to every peer), sends by identity at-least-once
   * (DATA_REQ, resent until acknowledged).
   */
  deliveryGuarantee?: DeliveryGuarantee;
  /** 16 bytes; default a random UUIDv4, kept for the socket's life (and reused on reconnect). */
  identity?: Uint8Array;
  /** Wire dialect: "v1" (Python 2026.7.1+, default), "legacy" (2019.x) or "auto" (detect per peer). */
  protocol?: ProtocolOption;
  /** Milliseconds to wait before each reconnection attempt (number or callback). Default 100. */
  reconnectionDelay?: number | (() => number);
  /** Send a heartbeat after this many ms without sending. Default 5000. */
  heartbeatInterval?: number;
  /** Drop a peer after this many ms without receiving. Default 15000. */
  heartbeatTimeout?: number;
  /** A connection must complete its handshake within this many ms. Default: heartbeatTimeout. */
  handshakeTimeout?: number;
  /**
   * Largest frame this end accepts from a peer, in bytes (the frame's length
   * prefix: its body, the message and its few bytes of header). A larger
   * frame closes that peer's connection (ERR_AIOMSG_FRAME_TOO_LARGE). It
   * guards only what this end receives: it does not limit what this end
   * sends (see maxSendSize). Default 16 MiB (Python has no limit).
   */
  maxFrameSize?: number;
  /**
   * Largest message send() accepts, in payload bytes (the message as given,
   * a string counted as its UTF-8 bytes). The frame body a peer's
   * maxFrameSize counts is the payload plus a header: v1 1 byte (17
   * at-least-once), legacy and early 0 (21 at-least-once). A larger message
   * is refused at the call: the promise rejects with
   * ERR_AIOMSG_FRAME_TOO_LARGE and nothing is sent. Set it to the peers'
   * maxFrameSize less 21 so that a message they would refuse never leaves.
   * Default: no limit.
   */
  maxSendSize?: number;
  /**
   * Cap on everything the socket holds for sending (queued, unwritten and
   * unacknowledged, all peers together): send() waits above it. Default 8 MiB.
   */
  highWaterMark?: number;
  /**
   * A peer is full while this many bytes are queued for it and not yet taken
   * by the kernel, its unacknowledged at-least-once messages included.
   * Round-robin skips a full peer, publish drops the message for it
   * (`dropped`, ERR_AIOMSG_PEER_FULL), a send by identity waits for its room.
   * Default highWaterMark / 8 (1 MiB).
   */
  peerHighWaterMark?: number;
  /** A peer is also full with this many messages queued or unacknowledged. Default 65,536. */
  peerHighWaterMessages?: number;
  /** Disconnect a peer (ERR_AIOMSG_SLOW_CONSUMER) whose queued writes make no progress for this many ms. Default heartbeatTimeout. */
  stallTimeout?: number;
  /**
   * Reading from peers pauses while received, unread messages hold this many
   * bytes. Each message is charged 128 bytes, and the buffer it was read into
   * is charged its whole size once, however many messages it holds: a 1-byte
   * message alone in a 64 KiB read costs 64 KiB. Default 16 MiB.
   */
  receiveHighWaterMark?: number;
  /** Reading from peers also pauses at this many unread messages (as Python's 65,536 cap). Default 65,536. */
  receiveHighWaterMessages?: number;
  /**
   * Bytes that partially received frames larger than 64 KiB may hold, all
   * connections together; a connection waits (TCP backpressure) for its
   * share. At least maxFrameSize. Default 2 x maxFrameSize.
   */
  partialFrameBudget?: number;
  /** At-least-once: resend after this many ms without an acknowledgement. Default 5000. */
  resendInterval?: number;
  /** At-least-once: resends before a message is dropped (and reported). Default 5. */
  maxResends?: number;
  /** Delay between handing a DATA_REQ payload to the app and acknowledging it (at most: every 512 owed go at once). Default 20 ms. */
  ackDelay?: number;
  /** close() waits up to this many ms for queued and unacknowledged messages. Default 2000. */
  linger?: number;
  /** Bind ends refuse connections beyond this many (handshaking or open). Default unlimited. */
  maxPeers?: number;
  /**
   * protocol "auto" on a connect end: speak v1 after this long if the bind end
   * has sent nothing (legacy and early bind ends greet on accept, Python
   * 2026.7.1 on the first byte, a TS v1 or auto bind end answers it with
   * 00 00 00; see docs/protocol.md "Telling the generations apart"). Default 500.
   */
  autoDetectDelay?: number;
  /**
   * The admission gate: runs for each new peer after its handshake, before
   * any message is routed to it or delivered from it, and admits or refuses
   * it (see AdmitHook, AdmissionRequest). A refused peer's connection is
   * closed with ERR_AIOMSG_NOT_ADMITTED; what the peer had sent is discarded,
   * and nothing buffered here ever reaches it. Both bind and connect ends.
   * (Declared as a method so that the browser build's declarations, where a
   * message is a Uint8Array rather than a Buffer, stay assignable to it.)
   */
  admit?(peer: AdmissionRequest): boolean | Promise<boolean>;
  /** The admit hook must decide within this many ms, or the peer is refused. Default handshakeTimeout. */
  admissionTimeout?: number;
  /**
   * Sent as the first message on every new connection, before anything
   * buffered: the token a peer's admit hook reads, so that this end
   * re-authenticates after each reconnect. A value, or a function of the
   * peer (may be async: a fresh token per connection).
   */
  admissionToken?: AdmissionToken;
}

export interface SendOptions {
  /**
   * Send to this peer only, whatever the send mode: its identity as
   * `peerConnected` and `recvIdentity()` give it (16 bytes for a v1 peer, 1
   * byte or more for a legacy or early peer).
   */
  identity?: Uint8Array;
  /** Stop waiting for room below the high-water mark. */
  signal?: AbortSignal;
  /**
   * At-least-once only: resend this message at most this many times (0: send
   * once, never resend) instead of the socket's `maxResends`; then it is
   * reported dropped (ERR_AIOMSG_RETRIES_EXHAUSTED). Python's
   * `send(..., retries=N)`. On a publish socket it applies to sends by
   * identity, the only ones acknowledged.
   */
  retries?: number;
}

/** Every option with its default applied, checked. */
export interface ResolvedOptions {
  sendMode: SendMode;
  deliveryGuarantee: DeliveryGuarantee;
  reliable: boolean;
  protocol: ProtocolOption;
  identity: Buffer;
  conn: ConnectionOptions;
  reconnectionDelay: () => number;
  highWaterMark: number;
  peerHighWaterMark: number;
  peerHighWaterMessages: number;
  receiveHighWaterMark: number;
  receiveHighWaterMessages: number;
  partialFrameBudget: number;
  resendInterval: number;
  maxResends: number;
  ackDelay: number;
  linger: number;
  maxPeers: number;
  maxSendSize: number;
  admit: AdmitHook | undefined;
  admissionTimeout: number;
  admissionToken: AdmissionToken | undefined;
}

/** Every option a socket takes: anything else is a mistake (a misspelt name) and fails at construction. */
const KNOWN_OPTIONS = new Set<string>([
  "sendMode",
  "deliveryGuarantee",
  "identity",
  "protocol",
  "reconnectionDelay",
  "heartbeatInterval",
  "heartbeatTimeout",
  "handshakeTimeout",
  "maxFrameSize",
  "maxSendSize",
  "highWaterMark",
  "peerHighWaterMark",
  "peerHighWaterMessages",
  "stallTimeout",
  "receiveHighWaterMark",
  "receiveHighWaterMessages",
  "partialFrameBudget",
  "resendInterval",
  "maxResends",
  "ackDelay",
  "linger",
  "maxPeers",
  "autoDetectDelay",
  "admit",
  "admissionTimeout",
  "admissionToken",
]);

export function resolveOptions(options: SocketOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "options must be an object");
  const unknown = Object.keys(options).filter((k) => !KNOWN_OPTIONS.has(k));
  if (unknown.length > 0) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `unknown option${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}`);
  }
  const sendMode = options.sendMode ?? SendMode.ROUND_ROBIN;
  const deliveryGuarantee = options.deliveryGuarantee ?? DeliveryGuarantee.AT_MOST_ONCE;
  if (sendMode !== SendMode.PUBLISH && sendMode !== SendMode.ROUND_ROBIN) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `sendMode must be "publish" or "roundrobin", got ${String(sendMode)}`);
  }
  if (deliveryGuarantee !== DeliveryGuarantee.AT_MOST_ONCE && deliveryGuarantee !== DeliveryGuarantee.AT_LEAST_ONCE) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `deliveryGuarantee must be "at-most-once" or "at-least-once", got ${String(deliveryGuarantee)}`);
  }
  const reliable = deliveryGuarantee === DeliveryGuarantee.AT_LEAST_ONCE;
  const protocol = options.protocol ?? "v1";
  if (protocol !== "auto" && !isDialectName(protocol)) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `protocol must be ${DIALECT_NAMES.map((n) => `"${n}"`).join(", ")} or "auto", got ${String(protocol)}`);
  }
  const identity = options.identity !== undefined ? checkOwnIdentity(options.identity) : uuidv4(undefined, Buffer.alloc(IDENTITY_SIZE));
  const heartbeatTimeout = positive(options.heartbeatTimeout, 15_000, "heartbeatTimeout");
  // A heartbeat must go out well within the peer's timeout: by default a
  // third of it (Python's 5 s of 15 s), and never at or beyond it.
  const heartbeatInterval = positive(options.heartbeatInterval, Math.min(5_000, heartbeatTimeout / 3), "heartbeatInterval");
  if (heartbeatInterval >= heartbeatTimeout) {
    throw new UsageError(
      "ERR_AIOMSG_INVALID_OPTION",
      `heartbeatInterval (${heartbeatInterval} ms) must be below heartbeatTimeout (${heartbeatTimeout} ms), or the peer drops the connection between heartbeats`,
    );
  }
  const conn: ConnectionOptions = {
    protocol,
    heartbeatInterval,
    heartbeatTimeout,
    handshakeTimeout: positive(options.handshakeTimeout, heartbeatTimeout, "handshakeTimeout"),
    maxFrameSize: positive(options.maxFrameSize, 16 * 1024 * 1024, "maxFrameSize"),
    autoDetectDelay: positive(options.autoDetectDelay, 500, "autoDetectDelay"),
    stallTimeout: positive(options.stallTimeout, heartbeatTimeout, "stallTimeout"),
  };
  if (conn.maxFrameSize > 0xffffffff) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "maxFrameSize cannot exceed 0xFFFFFFFF (the u32 length prefix)");
  }
  const delay = options.reconnectionDelay ?? 100;
  if (typeof delay !== "function" && !(typeof delay === "number" && delay >= 0)) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "reconnectionDelay must be a number of ms >= 0 or a function returning one");
  }
  const highWaterMark = positive(options.highWaterMark, 8 * 1024 * 1024, "highWaterMark");
  const partialFrameBudget = positive(options.partialFrameBudget, 2 * conn.maxFrameSize, "partialFrameBudget");
  if (partialFrameBudget < conn.maxFrameSize) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "partialFrameBudget must be at least maxFrameSize (a frame of that size must fit)");
  }
  return {
    sendMode,
    deliveryGuarantee,
    reliable,
    protocol,
    identity,
    conn,
    reconnectionDelay: typeof delay === "function" ? delay : () => delay,
    highWaterMark,
    peerHighWaterMark: positive(options.peerHighWaterMark, highWaterMark / 8, "peerHighWaterMark"),
    peerHighWaterMessages: positive(options.peerHighWaterMessages, 65_536, "peerHighWaterMessages"),
    receiveHighWaterMark: positive(options.receiveHighWaterMark, 16 * 1024 * 1024, "receiveHighWaterMark"),
    receiveHighWaterMessages: positive(options.receiveHighWaterMessages, 65_536, "receiveHighWaterMessages"),
    partialFrameBudget,
    resendInterval: positive(options.resendInterval, 5_000, "resendInterval"),
    maxResends: nonNegative(options.maxResends, 5, "maxResends"),
    ackDelay: nonNegative(options.ackDelay, 20, "ackDelay"),
    linger: nonNegative(options.linger, 2_000, "linger"),
    maxPeers: positive(options.maxPeers, Infinity, "maxPeers"),
    maxSendSize: positive(options.maxSendSize, Infinity, "maxSendSize"),
    admit: checkAdmit(options.admit),
    admissionTimeout: positive(options.admissionTimeout, conn.handshakeTimeout, "admissionTimeout"),
    admissionToken: checkToken(options.admissionToken),
  };
}

/**
 * This socket's own identity: 16 bytes, as a v1 HELLO carries and as the
 * early wire's UUID text encodes.
 */
export function checkOwnIdentity(value: unknown): Buffer {
  if (!(value instanceof Uint8Array) || value.length !== IDENTITY_SIZE) {
    const len = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `identity must be a Uint8Array of ${IDENTITY_SIZE} bytes, got ${len}`);
  }
  return Buffer.from(value);
}

/**
 * A peer's identity, as a send by identity names it: 1 byte or more. v1 peers
 * have 16-byte identities, but a 2019 peer may announce any length (2019.12.3
 * accepts 15, 17 or 36 bytes), and an early peer's text identity maps to its
 * UTF-8 bytes unless it is a canonical UUID (docs/protocol.md "The early wire").
 */
export function checkIdentity(value: unknown, what: string): Buffer {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    const len = value instanceof Uint8Array ? "an empty one" : typeof value;
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${what} must be a Uint8Array of at least 1 byte (a peer's identity), got ${len}`);
  }
  return Buffer.from(value);
}

function checkAdmit(value: unknown): AdmitHook | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `admit must be a function (peer) => boolean, got ${typeof value}`);
  return value as AdmitHook;
}

function checkToken(value: unknown): AdmissionToken | undefined {
  if (value === undefined || typeof value === "function" || typeof value === "string" || value instanceof Uint8Array) return value as AdmissionToken | undefined;
  throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `admissionToken must be a Uint8Array, a string or a function returning one, got ${typeof value}`);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0)) throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${name} must be a positive number`);
  return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0)) throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${name} must be a number >= 0`);
  return value;
}


/** Python aiomsg's heartbeat, fixed in every release: a heartbeat after 5 s of send-idle, a peer dropped after 15 s of silence. */
export const PYTHON_HEARTBEAT_INTERVAL = 5_000;
export const PYTHON_HEARTBEAT_TIMEOUT = 15_000;

/**
 * Why these heartbeat settings would part this end from an idle Python peer,
 * or undefined when they would not: a heartbeatInterval of 15 s or more lets
 * Python's 15 s timeout drop this end, and a heartbeatTimeout of 5 s or less
 * drops a Python peer between two of its heartbeats.
 */
export function pythonHeartbeatMismatch(heartbeatInterval: number, heartbeatTimeout: number): string | undefined {
  const why: string[] = [];
  if (heartbeatInterval >= PYTHON_HEARTBEAT_TIMEOUT) {
    why.push(`heartbeatInterval ${heartbeatInterval} ms: a Python peer drops a connection silent for 15 s, so it would drop this end while it has nothing to send`);
  }
  if (heartbeatTimeout <= PYTHON_HEARTBEAT_INTERVAL) {
    why.push(`heartbeatTimeout ${heartbeatTimeout} ms: a Python peer heartbeats only every 5 s, so this end would drop an idle Python peer`);
  }
  return why.length > 0 ? `${why.join("; ")} (Python aiomsg's heartbeat is fixed at 5 s / 15 s)` : undefined;
}

const warned = new Set<string>();

/**
 * Say once per process (per distinct text) that heartbeat settings would
 * part this end from Python peers: a Node warning (`process.on("warning")`,
 * type "AiomsgWarning", code AIOMSG_HEARTBEAT_PYTHON), console.warn where
 * there is no process. Only a warning: TS-only fleets may tune freely.
 */
export function warnPythonHeartbeat(heartbeatInterval: number, heartbeatTimeout: number): void {
  const text = pythonHeartbeatMismatch(heartbeatInterval, heartbeatTimeout);
  if (text === undefined || warned.has(text)) return;
  warned.add(text);
  const p = (globalThis as { process?: { emitWarning?: (m: string, o: object) => void } }).process;
  if (typeof p?.emitWarning === "function") p.emitWarning(text, { type: "AiomsgWarning", code: "AIOMSG_HEARTBEAT_PYTHON" });
  else console.warn(`AiomsgWarning: ${text}`);
}
