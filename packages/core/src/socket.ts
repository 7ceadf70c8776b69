/**
 * The Socket: routing and policy only (style.md). It decides which peer gets a
 * message (publish, round-robin, identity), what waits while no peer is
 * connected, what is resent, and when send() must wait. Bytes are the
 * connections' business.
 */
import { EventEmitter } from "node:events";
import type * as net from "node:net";
import { randomFillSync } from "node:crypto";
import { v4 as uuidv4 } from "uuid";
import { encode as msgpackEncode, decode as msgpackDecode } from "@msgpack/msgpack";
import { Connection, type ConnectionOptions, type ConnectionOwner, type ProtocolOption, type WriteMeter } from "./connection.js";
import type { DialectName } from "./dialect.js";
import { IDENTITY_SIZE } from "./dialect.js";
import { AiomsgError, ProtocolError, UsageError } from "./errors.js";
import { PeerInbox, ReceiveQueue, retain } from "./queue.js";
import { SharedFrameBudget } from "./wire/frame.js";
import type { Transport, TransportKind } from "./transport.js";
import { Listener, describeEndpoint, dial, parseEndpoint, type BindOptions, type ConnectOptions, type Endpoint } from "./transports/node.js";

export type { BindOptions, ConnectOptions } from "./transports/node.js";
import { COUNTER_MASK, PendingWindow } from "./pending.js";
import { debug, hex } from "./log.js";

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
   * bytes (payloads plus a fixed 128-byte charge per message). Default 16 MiB.
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

export interface PeerInfo {
  identity: Buffer;
  protocol: DialectName;
  direction: "bind" | "connect";
  remote: string;
  /** What carries it: "tcp", "tls", "ws" or "wss". */
  transport: TransportKind;
}

export interface PeerDisconnectInfo extends PeerInfo {
  /** Why the connection ended; undefined for an orderly close. */
  reason: AiomsgError | undefined;
}

export interface DroppedMessage {
  code: "ERR_AIOMSG_NOT_CONNECTED" | "ERR_AIOMSG_RETRIES_EXHAUSTED" | "ERR_AIOMSG_CLOSE_LINGER" | "ERR_AIOMSG_PEER_LOST" | "ERR_AIOMSG_PEER_FULL";
  payload: Buffer;
  identity: Buffer | undefined;
}

export interface SocketEvents {
  peerConnected: [PeerInfo];
  peerDisconnected: [PeerDisconnectInfo];
  dropped: [DroppedMessage];
  /** Only emitted when a listener is attached: network trouble never throws. */
  error: [AiomsgError];
  listening: [{ host: string; port: number }];
}

/** An at-least-once message until it is acknowledged or given up. */
class Reliable {
  readonly key: number;
  resends = 0;
  done = false;
  conn: Connection | undefined = undefined;
  /** Incremented on every (re)scheduling; stale slots in the resend FIFO are skipped. */
  seq = 0;
  deadline = 0;
  /** What it costs while unacknowledged (charged to the socket, and to the peer it was sent on). */
  readonly charge: number;
  constructor(
    readonly msgId: Buffer,
    readonly payload: Buffer,
    readonly identity: Buffer | undefined,
  ) {
    this.key = msgKey(msgId);
    this.charge = payload.length + RELIABLE_OVERHEAD;
  }
}

/** A send by identity waiting for its peer's room. */
interface PeerWaiter {
  payload: Buffer;
  resolve(): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

type Outgoing = Buffer | Reliable;

/** A connection the peer closes this soon after the handshake, with nothing sent, counts as refused. */
const FLAP_MS = 1000;

/** Wait before the next attempt after n consecutive refusals: 100 ms doubled each time, at most 5 s. */
export function refusalBackoff(n: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(n, 16));
}

/** Accounting charge of a message waiting in the socket queue. */
const QUEUE_OVERHEAD = 32;
const RESOLVED: Promise<void> = Promise.resolve();
/** send() lets the event loop turn at least once per this many bytes. */
const YIELD_BYTES = 1 << 20;
/** Accounting charge of an unacknowledged at-least-once message beyond its payload. */
const RELIABLE_OVERHEAD = 128;

interface Target {
  ep: Endpoint;
  options: ConnectOptions;
}

export class Socket extends EventEmitter<SocketEvents> implements ConnectionOwner, AsyncDisposable {
  readonly identity: Buffer;
  readonly sendMode: SendMode;
  readonly deliveryGuarantee: DeliveryGuarantee;
  readonly protocol: ProtocolOption;

  private readonly connOpts: ConnectionOptions;
  private readonly reconnectionDelay: () => number;
  private readonly highWaterMark: number;
  private readonly peerHighWaterMark: number;
  private readonly peerHighWaterMessages: number;
  private readonly receiveHighWaterMark: number;
  private readonly receiveHighWaterMessages: number;
  /** Shared by the connections: what partially received large frames may hold. */
  readonly frameBudget: SharedFrameBudget;
  /** Sends by identity waiting for their peer's room, per peer. */
  private readonly peerWaiters = new Map<Connection, PeerWaiter[]>();
  private readonly resendInterval: number;
  private readonly maxResends: number;
  private readonly ackDelay: number;
  private readonly lingerMs: number;
  private readonly maxPeers: number;
  private readonly reliable: boolean;

  /** Every live connection, handshaking or open. */
  private readonly conns = new Set<Connection>();
  /** Open peers by identity key, in connection order. */
  private readonly peers = new Map<string, Connection>();
  /** Open peers as an array for round-robin. */
  private open: Connection[] = [];
  private rr = 0;

  /** Messages waiting for a peer, in send order. */
  private queue: Outgoing[] = [];
  private queueHead = 0;
  /** Bytes accepted by send() and not yet written to the kernel, queued ones included. */
  readonly meter: WriteMeter = { bytes: 0 };
  private roomWaiters: Array<() => void> = [];
  /** Bytes sent since send() last let the event loop turn. */
  private spinBytes = 0;
  private turn: Promise<void> | undefined;

  private readonly pending = new PendingWindow<Reliable>();
  private resendFifo: Reliable[] = [];
  private resendSeqs: number[] = [];
  private resendHead = 0;
  private resendTimer: NodeJS.Timeout | undefined;

  // Acknowledgements waiting for ackDelay: connection and message id (a view) side by side.
  private ackConns: Connection[] = [];
  private ackIds: Buffer[] = [];
  private ackTimer: NodeJS.Timeout | undefined;

  private readonly inbox: ReceiveQueue;
  private readingPaused = false;

  private readonly bound: Listener[] = [];
  private readonly dialing = new Set<net.Socket>();
  private readonly sleepers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private idleWaiters: Array<() => void> = [];

  private closing = false;
  private closedFlag = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: SocketOptions = {}) {
    super();
    this.sendMode = options.sendMode ?? SendMode.ROUND_ROBIN;
    this.deliveryGuarantee = options.deliveryGuarantee ?? DeliveryGuarantee.AT_MOST_ONCE;
    if (this.sendMode !== SendMode.PUBLISH && this.sendMode !== SendMode.ROUND_ROBIN) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `sendMode must be "publish" or "roundrobin", got ${String(this.sendMode)}`);
    }
    if (this.deliveryGuarantee !== DeliveryGuarantee.AT_MOST_ONCE && this.deliveryGuarantee !== DeliveryGuarantee.AT_LEAST_ONCE) {
      throw new UsageError(
        "ERR_AIOMSG_INVALID_OPTION",
        `deliveryGuarantee must be "at-most-once" or "at-least-once", got ${String(this.deliveryGuarantee)}`,
      );
    }
    this.reliable = this.deliveryGuarantee === DeliveryGuarantee.AT_LEAST_ONCE;
    if (this.reliable && this.sendMode === SendMode.PUBLISH) {
      throw new UsageError(
        "ERR_AIOMSG_INVALID_OPTION",
        "at-least-once delivery cannot be combined with publish: acknowledgements are per peer (wire.md)",
      );
    }
    this.protocol = options.protocol ?? "v1";
    if (this.protocol !== "v1" && this.protocol !== "legacy" && this.protocol !== "auto") {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `protocol must be "v1", "legacy" or "auto", got ${String(this.protocol)}`);
    }
    this.identity = options.identity !== undefined ? checkIdentity(options.identity, "identity") : uuidv4(undefined, Buffer.alloc(IDENTITY_SIZE));

    const heartbeatTimeout = positive(options.heartbeatTimeout, 15_000, "heartbeatTimeout");
    this.connOpts = {
      protocol: this.protocol,
      heartbeatInterval: positive(options.heartbeatInterval, 5_000, "heartbeatInterval"),
      heartbeatTimeout,
      handshakeTimeout: positive(options.handshakeTimeout, heartbeatTimeout, "handshakeTimeout"),
      maxFrameSize: positive(options.maxFrameSize, 16 * 1024 * 1024, "maxFrameSize"),
      autoDetectDelay: positive(options.autoDetectDelay, 500, "autoDetectDelay"),
      stallTimeout: positive(options.stallTimeout, heartbeatTimeout, "stallTimeout"),
    };
    if (this.connOpts.maxFrameSize > 0xffffffff) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "maxFrameSize cannot exceed 0xFFFFFFFF (the u32 length prefix)");
    }
    const delay = options.reconnectionDelay ?? 100;
    this.reconnectionDelay = typeof delay === "function" ? delay : () => delay;
    this.highWaterMark = positive(options.highWaterMark, 8 * 1024 * 1024, "highWaterMark");
    this.peerHighWaterMark = positive(options.peerHighWaterMark, this.highWaterMark / 8, "peerHighWaterMark");
    this.peerHighWaterMessages = positive(options.peerHighWaterMessages, 65_536, "peerHighWaterMessages");
    this.receiveHighWaterMark = positive(options.receiveHighWaterMark, 16 * 1024 * 1024, "receiveHighWaterMark");
    this.receiveHighWaterMessages = positive(options.receiveHighWaterMessages, 65_536, "receiveHighWaterMessages");
    const budget = positive(options.partialFrameBudget, 2 * this.connOpts.maxFrameSize, "partialFrameBudget");
    if (budget < this.connOpts.maxFrameSize) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "partialFrameBudget must be at least maxFrameSize (a frame of that size must fit)");
    }
    this.frameBudget = new SharedFrameBudget(budget);
    this.resendInterval = positive(options.resendInterval, 5_000, "resendInterval");
    this.maxResends = nonNegative(options.maxResends, 5, "maxResends");
    this.ackDelay = nonNegative(options.ackDelay, 20, "ackDelay");
    this.lingerMs = nonNegative(options.linger, 2_000, "linger");
    this.maxPeers = positive(options.maxPeers, Infinity, "maxPeers");
    this.inbox = new ReceiveQueue(this.onTaken);
  }

  /** Identities of the peers currently connected. */
  get peerIdentities(): Buffer[] {
    return this.open.map((c) => c.peerIdentity!);
  }

  get peerCount(): number {
    return this.open.length;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Port of the first bound listener (useful after binding port 0). */
  get port(): number | undefined {
    return this.bound[0]?.port;
  }

  // --- bind / connect ----------------------------------------------------------

  /**
   * Listen for peers. May be called several times (several addresses). A v1
   * or auto bind end also serves WebSocket clients (ws://, and wss:// with
   * TLS) on the same port, as Python 2026.7.1 does.
   */
  async bind(host = "127.0.0.1", port = 25000, options: BindOptions = {}): Promise<this> {
    this.assertOpen();
    const listener = await Listener.open(host, port, options, this.protocol !== "legacy", this.listenHost);
    this.bound.push(listener);
    debug("socket %s bound to %s:%d", hex(this.identity), host, listener.port);
    this.safeEmit("listening", { host, port: listener.port! });
    return this;
  }

  /**
   * Keep a connection to a peer for the life of the socket, reconnecting
   * after `reconnectionDelay`: `connect(host, port)`, or a URL:
   * `tcp://host:port`, `ws://host:port/path`, `wss://host:port/path`.
   * Returns at once (messages sent meanwhile are buffered). May be called for
   * several peers.
   */
  async connect(host?: string, port?: number, options?: ConnectOptions): Promise<this>;
  async connect(url: string, options?: ConnectOptions): Promise<this>;
  async connect(host = "127.0.0.1", portOrOptions?: number | ConnectOptions, options: ConnectOptions = {}): Promise<this> {
    this.assertOpen();
    const port = typeof portOrOptions === "number" ? portOrOptions : undefined;
    if (typeof portOrOptions === "object") options = portOrOptions;
    const ep = parseEndpoint(host, port);
    if (ep.scheme !== "tcp" && this.protocol === "legacy") {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${ep.scheme}:// needs the v1 wire: 2019 aiomsg had no WebSocket transport`);
    }
    this.loops.push(this.connectLoop({ ep, options }));
    return this;
  }

  private async connectLoop(target: Target): Promise<void> {
    /** Consecutive attempts the peer refused: each doubles the wait (see refusalBackoff). */
    let refusals = 0;
    while (!this.closedFlag) {
      let conn: Connection | undefined;
      try {
        conn = await this.dial(target);
      } catch (err) {
        // Routine while a peer is down, so only reported to an attached
        // "error" listener (a TLS verification failure shows up here too).
        this.report(
          new AiomsgError("ERR_AIOMSG_CONNECT_FAILED", `connect to ${describeEndpoint(target.ep)} failed: ${(err as Error).message}`, {
            cause: err,
          }),
        );
      }
      if (conn) {
        await conn.done;
        refusals = this.refused(conn) ? refusals + 1 : 0;
      }
      if (this.closedFlag) break;
      let ms = 0;
      try {
        ms = Number(this.reconnectionDelay());
      } catch (err) {
        debug("reconnectionDelay threw: %s", (err as Error).message);
      }
      ms = Number.isFinite(ms) && ms > 0 ? ms : 0;
      if (refusals > 0) ms = Math.max(ms, refusalBackoff(refusals));
      await this.sleep(ms);
    }
  }

  /**
   * Whether a connect end's connection ended as a refusal:
   * - closed before the peer greeted (ERR_AIOMSG_REFUSED, already reported:
   *   a TS bind end refuses so);
   * - closed by the peer within a second of the handshake with nothing
   *   received after it;
   * - or dropped at heartbeatTimeout with nothing received after the
   *   handshake: a Python 2026.7.1 bind end greets, then leaves a duplicate
   *   identity's connection open and never reads or heartbeats on it.
   */
  private refused(conn: Connection): boolean {
    const reason = conn.closeReason;
    if (reason?.code === "ERR_AIOMSG_REFUSED") return true;
    if (this.closedFlag || conn.openedAt === 0 || conn.framesAfterHello > 0) return false;
    const lived = Math.round(conn.closedAt - conn.openedAt);
    let why: string;
    if (reason?.code === "ERR_AIOMSG_HEARTBEAT_TIMEOUT") {
      why = `${conn.remote} sent nothing after its HELLO for ${lived} ms: it probably refused this peer (a Python bind end does so for an identity already connected)`;
    } else if ((reason === undefined || reason.code === "ERR_AIOMSG_PEER_LOST") && lived < FLAP_MS) {
      why = `${conn.remote} closed the connection ${lived} ms after the handshake, before sending anything: it probably refused this peer (identity already connected)`;
    } else {
      return false;
    }
    this.report(new AiomsgError("ERR_AIOMSG_REFUSED", why), conn);
    return true;
  }

  private async dial(target: Target): Promise<Connection> {
    const transport = await dial(target.ep, target.options, this.dialing);
    if (this.closedFlag) {
      transport.destroy();
      throw new AiomsgError("ERR_AIOMSG_SOCKET_CLOSED", "socket closed while connecting");
    }
    const conn = new Connection(transport, this, this.connOpts, "connect");
    this.conns.add(conn);
    return conn;
  }

  /** What the listeners need from the socket. */
  private readonly listenHost = {
    admit: (s: net.Socket): boolean => {
      if (this.closedFlag) {
        s.destroy();
        return false;
      }
      let handshaking = 0;
      for (const l of this.bound) handshaking += l.handshaking.size;
      if (this.conns.size + handshaking >= this.maxPeers) {
        s.on("error", () => undefined);
        s.destroy();
        this.report(new AiomsgError("ERR_AIOMSG_MAX_PEERS", `refused ${s.remoteAddress ?? "?"}: maxPeers (${this.maxPeers}) reached`));
        return false;
      }
      return true;
    },
    accepted: (t: Transport, acceptedAt: number): void => {
      this.conns.add(new Connection(t, this, this.connOpts, "bind", acceptedAt + this.connOpts.handshakeTimeout));
    },
    report: (err: AiomsgError): void => this.report(err),
    handshakeTimeout: (): number => this.connOpts.handshakeTimeout,
    closed: (): boolean => this.closedFlag,
  };

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  // --- sending -----------------------------------------------------------------

  /**
   * Send one message. Resolves once the socket has accepted it: at once while
   * under the high-water mark, otherwise when enough has been written.
   */
  send(data: Uint8Array | string, options?: SendOptions): Promise<void> {
    if (this.closing) return Promise.reject(new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "send() after close()"));
    let payload: Buffer;
    if (typeof data === "string") payload = Buffer.from(data, "utf8");
    else if (Buffer.isBuffer(data)) payload = data;
    else if (data instanceof Uint8Array) payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else return Promise.reject(new UsageError("ERR_AIOMSG_INVALID_OPTION", "send() takes a Uint8Array or a string"));
    let identity: Buffer | undefined;
    if (options?.identity !== undefined) {
      try {
        identity = checkIdentity(options.identity, "send identity");
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (this.reliable) this.sendReliable(payload, identity);
    else if (identity !== undefined) {
      const conn = this.peers.get(identity.toString("latin1"));
      if (conn === undefined) {
        // Python drops these with an error log; here the drop is an event.
        debug("peer %s not connected: message dropped", hex(identity));
        this.drop("ERR_AIOMSG_NOT_CONNECTED", payload, identity);
      } else if (!this.hasRoom(conn) || this.peerWaiters.has(conn)) {
        // Only this peer's room matters: others are not held up.
        return this.waitForPeer(conn, payload, options?.signal);
      } else {
        conn.writeData(payload);
      }
    } else if (this.open.length === 0 || this.queueHead < this.queue.length) this.enqueue(payload);
    else this.route(payload);
    return this.accepted(payload.length, options?.signal);
  }

  /** What send() returns once the message is accepted: wait above the mark, else yield now and then. */
  private accepted(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.meter.bytes > this.highWaterMark) return this.waitForRoom(signal);
    // A producer that never has to wait would never let the event loop read
    // its sockets (heartbeats, ACKs): every YIELD_BYTES it waits for one turn.
    this.spinBytes += bytes;
    if (this.spinBytes < YIELD_BYTES) return RESOLVED;
    return (this.turn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.spinBytes = 0;
        this.turn = undefined;
        resolve();
      }),
    ));
  }

  /** A peer has room while its queued writes and unacknowledged messages are below both peer marks. */
  private hasRoom(conn: Connection): boolean {
    return (
      conn.queuedBytes + conn.unackedBytes < this.peerHighWaterMark &&
      conn.queuedFrames + conn.unacked.size < this.peerHighWaterMessages
    );
  }

  /** A send by identity to a full peer: resolves once it is written to that peer (or dropped if the peer goes). */
  private waitForPeer(conn: Connection, payload: Buffer, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AiomsgError("ERR_AIOMSG_ABORTED", "send aborted", { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const w: PeerWaiter = { payload, resolve, reject, signal, onAbort: undefined };
      let list = this.peerWaiters.get(conn);
      if (list === undefined) this.peerWaiters.set(conn, (list = []));
      list.push(w);
      if (signal !== undefined) {
        w.onAbort = () => {
          const l = this.peerWaiters.get(conn);
          const i = l?.indexOf(w) ?? -1;
          if (i >= 0) {
            l!.splice(i, 1);
            if (l!.length === 0) this.peerWaiters.delete(conn);
          }
          reject(new AiomsgError("ERR_AIOMSG_ABORTED", "send aborted while waiting for the peer's room (the message was not sent)", { cause: signal.reason }));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
    });
  }

  /** Write what waits for this peer while it has room, in send order. */
  private servePeerWaiters(conn: Connection): void {
    const list = this.peerWaiters.get(conn);
    if (list === undefined) return;
    let i = 0;
    while (i < list.length && this.hasRoom(conn)) {
      const w = list[i++]!;
      if (w.onAbort) w.signal!.removeEventListener("abort", w.onAbort);
      conn.writeData(w.payload);
      w.resolve();
    }
    if (i === list.length) this.peerWaiters.delete(conn);
    else list.splice(0, i);
  }

  /** The peer is gone: what waited for it is reported dropped, as a send to an absent peer is. */
  private failPeerWaiters(conn: Connection): void {
    const list = this.peerWaiters.get(conn);
    if (list === undefined) return;
    this.peerWaiters.delete(conn);
    for (const w of list) {
      if (w.onAbort) w.signal!.removeEventListener("abort", w.onAbort);
      this.drop(this.closedFlag ? "ERR_AIOMSG_CLOSE_LINGER" : "ERR_AIOMSG_PEER_LOST", w.payload, conn.peerIdentity);
      w.resolve();
    }
  }

  /** Register a new at-least-once message (its id carries its window counter) and send it. */
  private sendReliable(payload: Buffer, identity: Buffer | undefined): void {
    const entry = new Reliable(newMsgId(this.pending.nextCounter), payload, identity);
    this.pending.add(entry);
    // Unacknowledged messages count against the high-water mark, so a fast
    // producer waits for acknowledgements instead of growing memory.
    this.meter.bytes += entry.charge;
    this.transmit(entry);
  }

  /** send() already encodes strings as UTF-8; this is the Python-shaped name for it. */
  sendString(text: string, options?: SendOptions): Promise<void> {
    return this.send(text, options);
  }

  sendJson(value: unknown, options?: SendOptions): Promise<void> {
    const text = JSON.stringify(value);
    if (text === undefined) return Promise.reject(new UsageError("ERR_AIOMSG_INVALID_OPTION", "value is not JSON-serialisable"));
    return this.send(text, options);
  }

  sendMsgpack(value: unknown, options?: SendOptions): Promise<void> {
    return this.send(msgpackEncode(value), options);
  }

  private waitForRoom(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AiomsgError("ERR_AIOMSG_ABORTED", "send aborted", { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.roomWaiters.indexOf(wake);
        if (i >= 0) this.roomWaiters.splice(i, 1);
        reject(new AiomsgError("ERR_AIOMSG_ABORTED", "send aborted while waiting below the high-water mark (the message stays queued)", { cause: signal!.reason }));
      };
      const wake = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.roomWaiters.push(wake);
    });
  }

  /**
   * At-most-once without identity, with at least one peer open and nothing
   * queued before. Publish skips a full peer and reports the drop (as a
   * ZeroMQ PUB socket drops at a subscriber's high-water mark); round-robin
   * takes the next peer with room, and queues the message when every peer is
   * full (send() then waits once the queue reaches highWaterMark).
   */
  private route(payload: Buffer): boolean {
    if (this.sendMode === SendMode.PUBLISH) {
      const open = this.open;
      for (let i = 0; i < open.length; i++) {
        const conn = open[i]!;
        if (this.hasRoom(conn)) conn.writeData(payload);
        else this.drop("ERR_AIOMSG_PEER_FULL", payload, conn.peerIdentity);
      }
      return true;
    }
    const conn = this.nextPeer();
    if (conn === undefined) {
      this.enqueue(payload);
      return false;
    }
    conn.writeData(payload);
    return true;
  }

  /** The next open peer in turn that has room, or undefined when every one is full. */
  private nextPeer(): Connection | undefined {
    const open = this.open;
    const n = open.length;
    for (let k = 0; k < n; k++) {
      if (this.rr >= n) this.rr = 0;
      const conn = open[this.rr++]!;
      if (this.hasRoom(conn)) return conn;
    }
    return undefined;
  }

  private enqueue(item: Outgoing): void {
    this.queue.push(item);
    this.meter.bytes += (Buffer.isBuffer(item) ? item.length : item.payload.length) + QUEUE_OVERHEAD;
  }

  /** Hand queued messages to peers, in send order, while a peer can take them. */
  private drainQueue(): void {
    while (this.queueHead < this.queue.length && this.open.length > 0) {
      const item = this.queue[this.queueHead]!;
      if (this.sendMode === SendMode.ROUND_ROBIN && this.nextPeerPeek() === undefined) break;
      this.queue[this.queueHead++] = undefined as unknown as Outgoing;
      this.meter.bytes -= (Buffer.isBuffer(item) ? item.length : item.payload.length) + QUEUE_OVERHEAD;
      if (Buffer.isBuffer(item)) this.route(item);
      else this.transmit(item, true);
    }
    if (this.queueHead >= this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    this.checkRoom();
  }

  /** Whether some open peer has room (round-robin position unchanged). */
  private nextPeerPeek(): Connection | undefined {
    for (const conn of this.open) if (this.hasRoom(conn)) return conn;
    return undefined;
  }

  /**
   * Send (or resend) an at-least-once message and arm its resend deadline.
   * `fromQueue`: the entry comes off the queue head, so it must not queue behind others.
   */
  private transmit(entry: Reliable, fromQueue = false): void {
    this.detach(entry);
    let conn: Connection | undefined;
    if (entry.identity !== undefined) {
      conn = this.peers.get(entry.identity.toString("latin1"));
      // Not connected, or full: keep it and retry at the deadline (the peer may come back or drain).
      if (conn !== undefined && !this.hasRoom(conn)) conn = undefined;
    } else {
      conn = this.open.length === 0 || (!fromQueue && this.queueHead < this.queue.length) ? undefined : this.nextPeer();
      if (conn === undefined) {
        entry.seq++; // its resend slot, if any, is void while it waits in the queue
        this.enqueue(entry);
        return;
      }
    }
    if (conn !== undefined) {
      entry.conn = conn;
      conn.unacked.add(entry);
      conn.unackedBytes += entry.charge;
      conn.writeRequest(entry.msgId, entry.payload);
    }
    entry.deadline = performance.now() + this.resendInterval;
    this.resendFifo.push(entry);
    this.resendSeqs.push(++entry.seq);
    if (this.resendTimer === undefined) this.armResend(this.resendInterval);
  }

  /** Take an at-least-once message off the peer it was sent on (its charge to that peer ends). */
  private detach(entry: Reliable): void {
    const conn = entry.conn;
    if (conn === undefined) return;
    entry.conn = undefined;
    conn.unacked.delete(entry);
    conn.unackedBytes -= entry.charge;
  }

  private armResend(ms: number): void {
    this.resendTimer = setTimeout(this.onResendTimer, Math.max(1, Math.ceil(ms)));
    this.resendTimer.unref();
  }

  private readonly onResendTimer = (): void => {
    this.resendTimer = undefined;
    const now = performance.now();
    const fifo = this.resendFifo;
    while (this.resendHead < fifo.length) {
      const entry = fifo[this.resendHead]!;
      const seq = this.resendSeqs[this.resendHead]!;
      if (entry.done || seq !== entry.seq) {
        this.popResend();
        continue;
      }
      if (entry.deadline > now) {
        this.armResend(entry.deadline - now);
        break;
      }
      this.popResend();
      if (entry.resends >= this.maxResends) {
        this.settle(entry);
        debug("message %s unacknowledged after %d resends: dropped", hex(entry.msgId), entry.resends);
        this.drop("ERR_AIOMSG_RETRIES_EXHAUSTED", entry.payload, entry.identity);
        continue;
      }
      entry.resends++;
      this.transmit(entry);
    }
    if (this.resendHead >= fifo.length) {
      this.resendFifo = [];
      this.resendSeqs = [];
      this.resendHead = 0;
    }
    this.checkIdle();
  };

  private popResend(): void {
    this.resendFifo[this.resendHead] = undefined as unknown as Reliable;
    this.resendHead++;
    if (this.resendHead >= 4096 && this.resendHead * 2 >= this.resendFifo.length) {
      this.resendFifo.splice(0, this.resendHead);
      this.resendSeqs.splice(0, this.resendHead);
      this.resendHead = 0;
    }
  }

  private drop(code: DroppedMessage["code"], payload: Buffer, identity: Buffer | undefined): void {
    this.safeEmit("dropped", { code, payload, identity });
  }

  // --- receiving -------------------------------------------------------------------

  /** The next message's payload. Rejects with ERR_AIOMSG_SOCKET_CLOSED once closed and drained. */
  recv(options?: { signal?: AbortSignal }): Promise<Buffer> {
    return this.inbox.next(payloadOnly, options?.signal);
  }

  /** The next message as [sender identity, payload]. */
  recvIdentity(options?: { signal?: AbortSignal }): Promise<[Buffer, Buffer]> {
    return this.inbox.next(pair, options?.signal);
  }

  async recvString(options?: { signal?: AbortSignal }): Promise<string> {
    return (await this.recv(options)).toString("utf8");
  }

  async recvJson<T = unknown>(options?: { signal?: AbortSignal }): Promise<T> {
    return JSON.parse((await this.recv(options)).toString("utf8")) as T;
  }

  async recvMsgpack<T = unknown>(options?: { signal?: AbortSignal }): Promise<T> {
    return msgpackDecode(await this.recv(options)) as T;
  }

  /** Payloads as they arrive; ends when the socket closes. */
  messages(options?: { signal?: AbortSignal }): AsyncIterableIterator<Buffer> {
    return this.inbox.iterate(payloadOnly, options?.signal);
  }

  /** [identity, payload] pairs as they arrive; ends when the socket closes. */
  identityMessages(options?: { signal?: AbortSignal }): AsyncIterableIterator<[Buffer, Buffer]> {
    return this.inbox.iterate(pair, options?.signal);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.messages();
  }

  // --- ConnectionOwner ---------------------------------------------------------------

  peerAdmit(conn: Connection): ProtocolError | undefined {
    if (this.closedFlag) return new ProtocolError("ERR_AIOMSG_SOCKET_CLOSED", "socket is closing");
    if (this.peers.has(conn.key)) {
      return new ProtocolError(
        "ERR_AIOMSG_DUPLICATE_IDENTITY",
        `identity ${hex(conn.peerIdentity!)} is already connected; refusing the new connection from ${conn.remote}`,
      );
    }
    return undefined;
  }

  peerReady(conn: Connection): void {
    conn.inbox = new PeerInbox(conn.peerIdentity!, conn);
    this.peers.set(conn.key, conn);
    this.open.push(conn);
    if (this.readingPaused) conn.pause();
    this.safeEmit("peerConnected", this.info(conn));
    this.drainQueue();
  }

  /**
   * Receive policy: each peer may hold its share of the receive marks (the
   * marks divided by the open peers) before reading from it pauses, so a
   * flooding peer is pushed back while the others keep flowing; all reading
   * pauses when the whole queue is over the marks.
   */
  peerData(conn: Connection, payload: Buffer): void {
    const inbox = this.inbox;
    const q = conn.inbox!;
    // Small payloads are copied out of the read so that no read is kept alive by a view.
    inbox.push(q, retain(payload));
    if (!q.paused) {
      const n = this.open.length || 1;
      if (q.bytes > this.receiveHighWaterMark / n || q.length >= this.receiveHighWaterMessages / n) {
        q.paused = true;
        conn.pause();
      }
    }
    if (!this.readingPaused && (inbox.bytes > this.receiveHighWaterMark || inbox.length >= this.receiveHighWaterMessages)) {
      this.pauseReading();
    }
  }

  peerRequest(conn: Connection, msgId: Buffer, payload: Buffer): void {
    this.peerData(conn, payload);
    // Acknowledge shortly after the payload is handed over, on the same
    // connection (wire.md): one timer serves every pending ACK.
    this.ackConns.push(conn);
    this.ackIds.push(msgId);
    if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(this.flushAcks, this.ackDelay);
    }
  }

  private readonly flushAcks = (): void => {
    this.ackTimer = undefined;
    const conns = this.ackConns;
    const ids = this.ackIds;
    this.ackConns = [];
    this.ackIds = [];
    let skipped = 0;
    for (let i = 0; i < conns.length; i++) {
      const conn = conns[i]!;
      // A peer that does not read what we write gets no more ACKs queued
      // than its room allows: those it misses make it resend (a duplicate,
      // which at-least-once permits), never an unbounded queue here.
      if (!conn.isOpen) continue;
      if (conn.queuedBytes < this.peerHighWaterMark && conn.queuedFrames < this.peerHighWaterMessages) conn.writeAck(ids[i]!);
      else skipped++;
    }
    if (skipped > 0) debug("%d ACKs not queued: their peers' writes are full", skipped);
  };

  peerAck(_conn: Connection, msgId: Buffer): void {
    const entry = this.pending.get(msgKey(msgId));
    if (entry === undefined || !entry.msgId.equals(msgId)) return;
    this.settle(entry);
    // Acknowledged entries at the head of the resend FIFO go now, not at their deadline.
    const fifo = this.resendFifo;
    while (this.resendHead < fifo.length && (fifo[this.resendHead]!.done || this.resendSeqs[this.resendHead] !== fifo[this.resendHead]!.seq)) {
      this.popResend();
    }
  }

  /** An at-least-once message is acknowledged or given up: release its charge. */
  private settle(entry: Reliable): void {
    entry.done = true;
    this.pending.delete(entry.key);
    this.meter.bytes -= entry.charge;
    const conn = entry.conn;
    this.detach(entry);
    if (conn !== undefined) this.released(conn);
    else this.afterRelease();
  }

  /** Room may have opened on `conn`: serve what waits for it, then the queue and send(). */
  released(conn: Connection): void {
    if (conn.isOpen && this.hasRoom(conn)) {
      if (this.peerWaiters.size > 0) this.servePeerWaiters(conn);
      if (this.queueHead < this.queue.length) this.drainQueue();
    }
    this.afterRelease();
  }

  private afterRelease(): void {
    this.checkRoom();
    if (this.meter.bytes === 0) this.checkIdle();
  }

  peerClosed(conn: Connection, reason: AiomsgError | undefined): void {
    this.conns.delete(conn);
    // At-most-once messages that never fully left this process: reported, not silently lost.
    const unwritten = conn.takeUnwritten();
    const code = this.closedFlag ? "ERR_AIOMSG_CLOSE_LINGER" : "ERR_AIOMSG_PEER_LOST";
    for (const payload of unwritten) this.drop(code, payload, conn.peerIdentity);
    const registered = conn.key !== "" && this.peers.get(conn.key) === conn;
    if (registered) {
      this.peers.delete(conn.key);
      const i = this.open.indexOf(conn);
      if (i >= 0) {
        this.open.splice(i, 1);
        if (this.rr > i) this.rr--;
      }
      this.safeEmit("peerDisconnected", { ...this.info(conn), reason });
      this.failPeerWaiters(conn);
      // Unacknowledged messages sent on this connection go out again now
      // rather than waiting for their deadline: work in proportion to this
      // peer's own messages, whatever else is pending.
      if (conn.unacked.size > 0) {
        const mine = [...conn.unacked] as Reliable[];
        for (const entry of mine) {
          if (this.closedFlag) this.detach(entry);
          else this.transmit(entry);
        }
      }
    }
    if (reason) this.report(reason, conn);
  }

  private info(conn: Connection): PeerInfo {
    return { identity: conn.peerIdentity!, protocol: conn.dialect!.name, direction: conn.direction, remote: conn.remote, transport: conn.transport.kind };
  }

  private pauseReading(): void {
    this.readingPaused = true;
    for (const c of this.open) c.pause();
  }

  private readonly onTaken = (q: PeerInbox<Connection>): void => {
    if (q.paused) {
      const n = this.open.length || 1;
      if (q.bytes <= this.receiveHighWaterMark / n / 2 && q.length <= this.receiveHighWaterMessages / n / 2) {
        q.paused = false;
        if (!this.readingPaused) q.source.resume();
      }
    }
    if (this.readingPaused && this.inbox.bytes <= this.receiveHighWaterMark / 2 && this.inbox.length <= this.receiveHighWaterMessages / 2) {
      this.readingPaused = false;
      for (const c of this.open) if (!c.inbox!.paused) c.resume();
    }
  };

  private checkRoom(): void {
    if (this.roomWaiters.length === 0 || this.meter.bytes > this.highWaterMark) return;
    const ws = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of ws) w();
  }

  private get idle(): boolean {
    return this.queueHead >= this.queue.length && this.meter.bytes <= 0 && this.pending.size === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.idle) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  // --- events ------------------------------------------------------------------------

  private report(err: AiomsgError, conn?: Connection): void {
    debug("%s%s: %s", err.code, conn ? ` (${conn.describe()})` : "", err.message);
    if (this.listenerCount("error") > 0) this.safeEmit("error", err);
  }

  /** A listener that throws must not break the connection that triggered it. */
  private safeEmit<K extends keyof SocketEvents>(event: K, ...args: SocketEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      debug("listener for %s threw: %s", event, (err as Error)?.message);
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  // --- closing ------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) throw new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
  }

  /**
   * Stop sending, wait up to `linger` ms for queued and unacknowledged messages
   * to be delivered, report what could not be (`dropped` events with
   * ERR_AIOMSG_CLOSE_LINGER), then close every connection and listener.
   * Messages already received stay readable; iterators end.
   */
  close(options?: { linger?: number }): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closing = true;
    this.closePromise = this.doClose(options?.linger ?? this.lingerMs);
    return this.closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(linger: number): Promise<void> {
    // Acknowledgements still waiting for ackDelay go out now and count as
    // queued writes, so the linger below waits for them too.
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.flushAcks();
    if (!this.idle && linger > 0) {
      for (const c of this.open) c.flush();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, linger);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.idleWaiters.push(done);
      });
    }
    this.closedFlag = true;
    this.idleWaiters = [];
    if (this.resendTimer) clearTimeout(this.resendTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.flushAcks();

    for (const s of this.dialing) s.destroy();
    this.dialing.clear();
    for (const wake of [...this.sleepers]) wake();
    const serversClosed = this.bound.map((l) => l.close());
    // What could not be delivered is reported, never silently dropped, in
    // send order: first what was written to peers, then what waited in the queue.
    for (const c of [...this.conns]) {
      // A peer that did not take what it was sent within linger is cut off;
      // what it did not get is reported by peerClosed.
      c.close(c.queuedBytes > 0 ? new AiomsgError("ERR_AIOMSG_CLOSE_LINGER", `${c.describe()} did not take its data within linger`) : undefined);
    }
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      if (Buffer.isBuffer(item)) this.drop("ERR_AIOMSG_CLOSE_LINGER", item, undefined);
    }
    this.queue = [];
    this.queueHead = 0;
    for (const entry of [...this.pending.values()]) {
      this.settle(entry);
      this.drop("ERR_AIOMSG_CLOSE_LINGER", entry.payload, entry.identity);
    }
    this.inbox.end();
    for (const w of this.roomWaiters) w();
    this.roomWaiters = [];
    await Promise.all([...serversClosed, ...this.loops]);
    debug("socket %s closed", hex(this.identity));
  }
}

function payloadOnly(_id: Buffer, payload: Buffer): Buffer {
  return payload;
}

function pair(id: Buffer, payload: Buffer): [Buffer, Buffer] {
  return [id, payload];
}

function checkIdentity(value: unknown, what: string): Buffer {
  if (!(value instanceof Uint8Array) || value.length !== IDENTITY_SIZE) {
    const len = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${what} must be a Uint8Array of ${IDENTITY_SIZE} bytes, got ${len}`);
  }
  return Buffer.from(value);
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

// Message ids are UUIDv4-shaped: 12 bytes cut from a pool of random bytes (one
// randomFill per 4096 ids), then the 30-bit counter of the PendingWindow in the
// last 4 bytes, so that an ACK finds its message by index. Peers only
// echo ids back, so their layout is this end's business.
const ID_POOL_IDS = 4096;
let idPool = Buffer.alloc(0);
let idPoolOff = 0;

function newMsgId(counter: number): Buffer {
  if (idPoolOff >= idPool.length) {
    idPool = randomFillSync(Buffer.allocUnsafe(16 * ID_POOL_IDS));
    idPoolOff = 0;
  }
  const id = idPool.subarray(idPoolOff, idPoolOff + 16);
  idPoolOff += 16;
  id[6] = (id[6]! & 0x0f) | 0x40; // version 4
  id[8] = (id[8]! & 0x3f) | 0x80; // RFC 4122 variant
  id.writeUInt32BE(counter, 12);
  return id;
}

/** The counter part of an id: a small-integer map key (the full id is compared on lookup). */
function msgKey(id: Uint8Array): number {
  return (((id[12]! << 24) | (id[13]! << 16) | (id[14]! << 8) | id[15]!) & COUNTER_MASK) >>> 0;
}
