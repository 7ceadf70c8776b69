/**
 * The socket's public types: what its events carry (PeerInfo, DroppedMessage,
 * SocketEvents) and what stats() returns. Re-exported by index.ts and browser.ts.
 */
import type { AiomsgError } from "./errors.js";
import type { DialectName } from "./dialect.js";
import type { PeerCertificate, TransportKind } from "./transport.js";

export type { PeerCertificate } from "./transport.js";

export interface PeerInfo {
  identity: Buffer;
  protocol: DialectName;
  direction: "bind" | "connect";
  remote: string;
  /** What carries it: "tcp", "tls", "ws" or "wss". */
  transport: TransportKind;
  /** A connect end's target as given to connect() (e.g. "srv://_aiomsg._tcp.svc"). */
  target?: string;
  /** The address it was resolved to for this connection ("10.0.0.5:25000"), when connect() follows a name. */
  address?: string;
}

/**
 * What the `admit` hook knows of a new peer: its handshake (identity,
 * address, wire, transport, the TLS certificate it presented), and its
 * messages on request. Nothing is routed to the peer and nothing it sends is
 * delivered until the hook admits it.
 */
export interface AdmissionRequest extends PeerInfo {
  /** The certificate the peer presented over TLS (mutual TLS); undefined otherwise. */
  certificate: PeerCertificate | undefined;
  /** Over TLS: whether that certificate verified against the bind end's trusted CAs. */
  authorized: boolean;
  /**
   * The peer's next message (its first on the first call): a token to
   * check. It is consumed: never delivered to recv(). Rejects if the
   * connection ends first.
   */
  readMessage(): Promise<Buffer>;
  /**
   * Write a message to this peer only, before it is admitted (a challenge:
   * "send your token", a nonce to sign). Nothing else reaches it until then.
   */
  send(data: Uint8Array | string): void;
}

/**
 * The `admit` hook: true admits the peer; false refuses it (its connection is
 * closed with ERR_AIOMSG_NOT_ADMITTED); a throw or a rejection refuses it
 * with that error's message. Not deciding within admissionTimeout refuses it.
 */
export type AdmitHook = (peer: AdmissionRequest) => boolean | Promise<boolean>;

/**
 * `admissionToken`: sent as the first message on every connection, or made
 * per connection. (The function is typed through a method, whose parameter
 * TypeScript checks both ways, so that the browser build's declarations,
 * where an identity is a Uint8Array rather than a Buffer, stay assignable.)
 */
export type AdmissionToken = Uint8Array | string | { make(peer: PeerInfo): Uint8Array | string | Promise<Uint8Array | string> }["make"];

export interface PeerDisconnectInfo extends PeerInfo {
  /** Why the connection ended; undefined for an orderly close. */
  reason: AiomsgError | undefined;
}

export interface DroppedMessage {
  code: "ERR_AIOMSG_NOT_CONNECTED" | "ERR_AIOMSG_RETRIES_EXHAUSTED" | "ERR_AIOMSG_CLOSE_LINGER" | "ERR_AIOMSG_PEER_LOST" | "ERR_AIOMSG_PEER_FULL";
  payload: Buffer;
  identity: Buffer | undefined;
  /** What ended the connection the message was lost with (a write error, a protocol error), when there was one. */
  reason?: AiomsgError;
}

/** One open peer's counters (see Socket.stats()). */
export interface PeerStats {
  /** Hex of the peer's identity. */
  identity: string;
  /** "draining": routed to no more, finishing what it holds (drain(), or its address left DNS). */
  state: "admitted" | "draining";
  protocol: DialectName;
  direction: "bind" | "connect";
  transport: TransportKind;
  remote: string;
  /** As in PeerInfo: the connect() target and the resolved address. */
  target?: string;
  address?: string;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Bytes and frames written for it and not yet taken by the kernel. */
  queuedBytes: number;
  queuedFrames: number;
  /** Its unread messages in the receive queue. */
  unreadMessages: number;
  /** At-least-once messages sent to it and not yet acknowledged. */
  unacknowledged: number;
}

/** A socket's counters since it was made, and its peers now. */
export interface SocketStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Messages waiting in the socket for a peer (none connected, or every one full). */
  queuedMessages: number;
  /** Everything held for sending: queued, unwritten and unacknowledged bytes. */
  heldBytes: number;
  unreadMessages: number;
  unreadBytes: number;
  /**
   * At-least-once messages sent and not yet acknowledged (or waiting for a
   * resend); one that waits for a peer's room before its first send is
   * counted in queuedMessages instead.
   */
  unacknowledged: number;
  /** Messages given up, by code (as the `dropped` events). */
  dropped: Partial<Record<DroppedMessage["code"], number>>;
  /** At-least-once messages sent again (at their deadline, or because their peer went). */
  resends: number;
  /** Handshakes completed by a connect end that had been connected before. */
  reconnects: number;
  peers: PeerStats[];
  /** Each name connect() follows (resolve "all", srv://): what it resolved to and how the last resolution went. */
  targets: TargetStats[];
}

/** A name connect() follows (see docs/fleet.md). */
export interface TargetStats {
  target: string;
  /** The last good set of addresses ("host:port"), kept while the name fails to resolve. */
  addresses: string[];
  /** Addresses leaving: their connections are draining. */
  draining: string[];
  /** Addresses refused (one replica at two addresses: connected through the other), not dialled until the set changes. */
  parked: string[];
  /** Date.now() of the last successful resolution (0 before the first). */
  resolvedAt: number;
  /** Consecutive failed resolutions (0 after a success). */
  failures: number;
  /** The last failure's error, while failing. */
  error?: AiomsgError;
}

export interface SocketEvents {
  peerConnected: [PeerInfo];
  peerDisconnected: [PeerDisconnectInfo];
  dropped: [DroppedMessage];
  /** Only emitted when a listener is attached: network trouble never throws. */
  error: [AiomsgError];
  listening: [{ host: string; port: number }];
  /** A connect end starts dialling `target` (attempt 1). */
  connecting: [{ target: string; attempt: number; address?: string }];
  /** A connect end will dial `target` again after `delay` ms (attempt 2, 3, ...). */
  reconnecting: [{ target: string; attempt: number; delay: number; address?: string }];
  /** A followed name resolved (see docs/fleet.md): every address behind it, and what changed. */
  resolved: [{ target: string; addresses: string[]; added: string[]; removed: string[]; ttl: number }];
  /** A peer is routed to no more and finishes what it holds (drain(), or its address left DNS). */
  peerDraining: [PeerInfo];
}
