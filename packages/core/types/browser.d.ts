/**
 * Declarations of `aiomsg-ts/browser` (dist/browser.js). Written for pages:
 * no Node types are needed (compile with `"types": []`). Payloads and
 * identities are Uint8Array; what the socket returns is a Uint8Array subclass
 * (the bundled `buffer` package's Buffer, whose toString("utf8"|"hex") works).
 * test/browser/aiomsg-browser.test.ts checks that a page compiles against
 * them and that the implementation (src/browser.ts) is assignable to them.
 */

export type AiomsgErrorCode =
  | "ERR_AIOMSG_FRAME_TOO_LARGE"
  | "ERR_AIOMSG_EMPTY_FRAME"
  | "ERR_AIOMSG_TRUNCATED_FRAME"
  | "ERR_AIOMSG_BAD_HELLO"
  | "ERR_AIOMSG_BAD_VERSION"
  | "ERR_AIOMSG_NO_HELLO"
  | "ERR_AIOMSG_DUPLICATE_IDENTITY"
  | "ERR_AIOMSG_UNKNOWN_DIALECT"
  | "ERR_AIOMSG_MALFORMED"
  | "ERR_AIOMSG_WEBSOCKET"
  | "ERR_AIOMSG_HANDSHAKE_TIMEOUT"
  | "ERR_AIOMSG_HEARTBEAT_TIMEOUT"
  | "ERR_AIOMSG_MAX_PEERS"
  | "ERR_AIOMSG_SOCKET_CLOSED"
  | "ERR_AIOMSG_INVALID_OPTION"
  | "ERR_AIOMSG_NOT_CONNECTED"
  | "ERR_AIOMSG_RETRIES_EXHAUSTED"
  | "ERR_AIOMSG_PEER_LOST"
  | "ERR_AIOMSG_CONNECT_FAILED"
  | "ERR_AIOMSG_CLOSE_LINGER"
  | "ERR_AIOMSG_ABORTED"
  | "ERR_AIOMSG_SLOW_CONSUMER"
  | "ERR_AIOMSG_PEER_FULL"
  | "ERR_AIOMSG_REFUSED"
  | "ERR_AIOMSG_NOT_AIOMSG";

export declare class AiomsgError extends Error {
  readonly code: AiomsgErrorCode;
  constructor(code: AiomsgErrorCode, message: string, options?: { cause?: unknown });
}
/** A peer broke the protocol; only its own connection is closed. */
export declare class ProtocolError extends AiomsgError {
  constructor(code: AiomsgErrorCode, message: string);
}
/** The API was used in a way it does not support. */
export declare class UsageError extends AiomsgError {
  constructor(code: AiomsgErrorCode, message: string);
}

/**
 * The server closed the WebSocket with a code other than 1000 (a
 * peerDisconnected reason): 1001 going away (a timeout), 1002 protocol
 * error, 1008 refused (code ERR_AIOMSG_REFUSED), 1009 frame too large,
 * 1011 internal error.
 */
export declare class WebSocketClosedError extends AiomsgError {
  readonly closeCode: number;
  readonly closeReason: string;
  constructor(closeCode: number, closeReason: string, url: string);
}

export declare const SendMode: { readonly PUBLISH: "publish"; readonly ROUND_ROBIN: "roundrobin" };
export type SendMode = (typeof SendMode)[keyof typeof SendMode];
export declare const DeliveryGuarantee: { readonly AT_MOST_ONCE: "at-most-once"; readonly AT_LEAST_ONCE: "at-least-once" };
export type DeliveryGuarantee = (typeof DeliveryGuarantee)[keyof typeof DeliveryGuarantee];
export type DialectName = "v1" | "legacy";
export type ProtocolOption = DialectName | "auto";
export type TransportKind = "tcp" | "tls" | "ws" | "wss";

export interface SocketOptions {
  /** Where sends without an identity go. Default round-robin (as Python). */
  sendMode?: SendMode;
  /** Default at-most-once. At-least-once cannot be combined with publish. */
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
  /** Largest frame accepted from a peer, in bytes. Default 16 MiB (Python has no limit). */
  maxFrameSize?: number;
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
  /** Delay between handing a DATA_REQ payload to the app and acknowledging it. Default 20 ms. */
  ackDelay?: number;
  /** close() waits up to this many ms for queued and unacknowledged messages. Default 2000. */
  linger?: number;
  /** Bind ends refuse connections beyond this many (handshaking or open). Default unlimited. */
  maxPeers?: number;
  /** protocol "auto" on a connect end: wait this long for the peer to greet first (2019 bind ends do), then speak v1. Default 500. */
  autoDetectDelay?: number;
}

export interface SendOptions {
  /** Send to this peer only, whatever the send mode. */
  identity?: Uint8Array;
  /** Stop waiting for room below the high-water mark. */
  signal?: AbortSignal;
}

export interface BrowserConnectOptions {
  /** Give up one attempt after this many ms (then wait reconnectionDelay). Default 1000. */
  connectTimeout?: number;
}

export interface PeerInfo {
  identity: Uint8Array;
  protocol: DialectName;
  direction: "bind" | "connect";
  /** The URL connected to. */
  remote: string;
  transport: TransportKind;
}
export interface PeerDisconnectInfo extends PeerInfo {
  /** Why the connection ended; undefined for an orderly close. */
  reason: AiomsgError | undefined;
}
export interface DroppedMessage {
  code: "ERR_AIOMSG_NOT_CONNECTED" | "ERR_AIOMSG_RETRIES_EXHAUSTED" | "ERR_AIOMSG_CLOSE_LINGER" | "ERR_AIOMSG_PEER_LOST" | "ERR_AIOMSG_PEER_FULL";
  payload: Uint8Array;
  identity: Uint8Array | undefined;
}
export interface SocketEvents {
  peerConnected: [PeerInfo];
  peerDisconnected: [PeerDisconnectInfo];
  dropped: [DroppedMessage];
  /** Only emitted when a listener is attached: network trouble never throws. */
  error: [AiomsgError];
  /** The socket starts dialling `target` (attempt 1). */
  connecting: [{ target: string; attempt: number }];
  /** The socket will dial `target` again after `delay` ms (attempt 2, 3, ...). */
  reconnecting: [{ target: string; attempt: number; delay: number }];
}

/** One open peer's counters (see Socket.stats()). */
export interface PeerStats {
  identity: string;
  protocol: DialectName;
  direction: "bind" | "connect";
  transport: TransportKind;
  remote: string;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  queuedBytes: number;
  queuedFrames: number;
  unreadMessages: number;
  unacknowledged: number;
}

/** A socket's counters since it was made, and its peers now. */
export interface SocketStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  queuedMessages: number;
  heldBytes: number;
  unreadMessages: number;
  unreadBytes: number;
  unacknowledged: number;
  dropped: Partial<Record<DroppedMessage["code"], number>>;
  resends: number;
  reconnects: number;
  peers: PeerStats[];
}

type Listener<K extends keyof SocketEvents> = (...args: SocketEvents[K]) => void;

export declare class Socket {
  constructor(options?: SocketOptions);
  readonly identity: Uint8Array;
  readonly sendMode: SendMode;
  readonly deliveryGuarantee: DeliveryGuarantee;
  readonly protocol: ProtocolOption;
  /** Identities of the peers currently connected. */
  readonly peerIdentities: Uint8Array[];
  readonly peerCount: number;
  readonly closed: boolean;
  /** Counters since the socket was made, and each open peer's. */
  stats(): SocketStats;

  /**
   * Keep a connection to `ws://host:port/path` or `wss://...` for the life of
   * the socket, reconnecting after reconnectionDelay. Resolves at once
   * (messages sent meanwhile are buffered).
   */
  connect(url: string, options?: BrowserConnectOptions): Promise<this>;
  /** Always throws a UsageError: a page cannot accept connections. */
  bind(...args: unknown[]): never;

  send(data: Uint8Array | string, options?: SendOptions): Promise<void>;
  sendString(text: string, options?: SendOptions): Promise<void>;
  sendJson(value: unknown, options?: SendOptions): Promise<void>;
  sendMsgpack(value: unknown, options?: SendOptions): Promise<void>;

  recv(options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  recvIdentity(options?: { signal?: AbortSignal }): Promise<[Uint8Array, Uint8Array]>;
  recvString(options?: { signal?: AbortSignal }): Promise<string>;
  recvJson<T = unknown>(options?: { signal?: AbortSignal }): Promise<T>;
  recvMsgpack<T = unknown>(options?: { signal?: AbortSignal }): Promise<T>;
  messages(options?: { signal?: AbortSignal }): AsyncIterableIterator<Uint8Array>;
  identityMessages(options?: { signal?: AbortSignal }): AsyncIterableIterator<[Uint8Array, Uint8Array]>;
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array>;

  on<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  once<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  off<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  removeAllListeners(event?: keyof SocketEvents): this;
  listenerCount(event: keyof SocketEvents): number;

  /** Wait up to `linger` ms for queued and unacknowledged messages, then close every connection. */
  close(options?: { linger?: number }): Promise<void>;
}
