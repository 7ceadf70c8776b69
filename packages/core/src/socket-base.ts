/**
 * What every aiomsg socket is, whatever carries its bytes: routing and policy
 * (style.md). It decides which peer gets a message (publish, round-robin,
 * identity), what waits while no peer is connected or every peer is full,
 * what is resent, and when send() must wait. Bytes are the connections'
 * business, and how connections are made is the subclass's: the Node Socket
 * (socket.ts) binds and dials TCP, TLS and WebSocket; the browser Socket
 * (browser.ts) dials the browser's WebSocket. Nothing here imports a Node
 * network module.
 */
import { EventEmitter } from "node:events";
import { encode as msgpackEncode, decode as msgpackDecode } from "@msgpack/msgpack";
import { Connection, type ConnectionOptions, type ConnectionOwner, type ProtocolOption, type WriteMeter } from "./connection.js";
import type { DialectName } from "./dialect.js";
import { AiomsgError, ProtocolError, UsageError } from "./errors.js";
import { EMPTY, PeerInbox, ReceiveQueue } from "./queue.js";
import { SharedFrameBudget } from "./wire/frame.js";
import type { Transport, TransportKind } from "./transport.js";
import { PendingWindow } from "./pending.js";
import { debug, hex } from "./log.js";
import { DeliveryGuarantee, SendMode, checkIdentity, resolveOptions, type SendOptions, type SocketOptions } from "./options.js";
import { RELIABLE_OVERHEAD, Reliable, attachTo, detachFrom, msgKey, newMsgId, unackedOn } from "./reliability.js";
import { channels } from "./observe.js";

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

/** One open peer's counters (see Socket.stats()). */
export interface PeerStats {
  /** Hex of the peer's identity. */
  identity: string;
  protocol: DialectName;
  direction: "bind" | "connect";
  transport: TransportKind;
  remote: string;
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
  unacknowledged: number;
  /** Messages given up, by code (as the `dropped` events). */
  dropped: Partial<Record<DroppedMessage["code"], number>>;
  /** At-least-once messages sent again (at their deadline, or because their peer went). */
  resends: number;
  /** Handshakes completed by a connect end that had been connected before. */
  reconnects: number;
  peers: PeerStats[];
}

export interface SocketEvents {
  peerConnected: [PeerInfo];
  peerDisconnected: [PeerDisconnectInfo];
  dropped: [DroppedMessage];
  /** Only emitted when a listener is attached: network trouble never throws. */
  error: [AiomsgError];
  listening: [{ host: string; port: number }];
  /** A connect end starts dialling `target` (attempt 1). */
  connecting: [{ target: string; attempt: number }];
  /** A connect end will dial `target` again after `delay` ms (attempt 2, 3, ...). */
  reconnecting: [{ target: string; attempt: number; delay: number }];
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

/** Wait before the next attempt after n consecutive refusals: 100 ms doubled each time, at most 5 s. */
function refusalBackoff(n: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(n, 16));
}

/** Accounting charge of a message waiting in the socket queue. */
const QUEUE_OVERHEAD = 32;
const RESOLVED: Promise<void> = Promise.resolve();
/** send() lets the event loop turn at least once per this many bytes. */
const YIELD_BYTES = 1 << 20;

export abstract class SocketBase extends EventEmitter<SocketEvents> implements AsyncDisposable {
  readonly identity: Buffer;
  readonly sendMode: SendMode;
  readonly deliveryGuarantee: DeliveryGuarantee;
  readonly protocol: ProtocolOption;

  protected readonly connOpts: ConnectionOptions;
  private readonly reconnectionDelay: () => number;
  private readonly highWaterMark: number;
  private readonly peerHighWaterMark: number;
  private readonly peerHighWaterMessages: number;
  private readonly receiveHighWaterMark: number;
  private readonly receiveHighWaterMessages: number;
  /** Shared by the connections: what partially received large frames may hold. */
  readonly #frameBudget: SharedFrameBudget;
  /** Sends by identity waiting for their peer's room, per peer. */
  private readonly peerWaiters = new Map<Connection, PeerWaiter[]>();
  private readonly resendInterval: number;
  private readonly maxResends: number;
  private readonly ackDelay: number;
  private readonly lingerMs: number;
  protected readonly maxPeers: number;
  private readonly reliable: boolean;

  /** Every live connection, handshaking or open. */
  protected readonly conns = new Set<Connection>();
  /** Open peers by identity key, in connection order. */
  private readonly peers = new Map<string, Connection>();
  /** Open peers as an array for round-robin. */
  private open: Connection[] = [];
  private rr = 0;

  /** Messages waiting for a peer, in send order. */
  private queue: Outgoing[] = [];
  private queueHead = 0;
  /** Bytes accepted by send() and not yet written to the kernel, queued ones included. */
  readonly #meter: WriteMeter = { bytes: 0 };
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

  private readonly sleepers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private idleWaiters: Array<() => void> = [];

  protected closing = false;

  // Counters for stats(); per-peer ones live on each connection and are
  // added here when it closes.
  readonly #totals = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, resends: 0, reconnects: 0 };
  readonly #dropped: Partial<Record<DroppedMessage["code"], number>> = {};
  protected closedFlag = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: SocketOptions = {}) {
    super();
    const o = resolveOptions(options);
    this.sendMode = o.sendMode;
    this.deliveryGuarantee = o.deliveryGuarantee;
    this.reliable = o.reliable;
    this.protocol = o.protocol;
    this.identity = o.identity;
    this.connOpts = o.conn;
    this.reconnectionDelay = o.reconnectionDelay;
    this.highWaterMark = o.highWaterMark;
    this.peerHighWaterMark = o.peerHighWaterMark;
    this.peerHighWaterMessages = o.peerHighWaterMessages;
    this.receiveHighWaterMark = o.receiveHighWaterMark;
    this.receiveHighWaterMessages = o.receiveHighWaterMessages;
    this.#frameBudget = new SharedFrameBudget(o.partialFrameBudget);
    this.resendInterval = o.resendInterval;
    this.maxResends = o.maxResends;
    this.ackDelay = o.ackDelay;
    this.lingerMs = o.linger;
    this.maxPeers = o.maxPeers;
    this.inbox = new ReceiveQueue(this.onTaken);
    // What connections may call: kept off the public type.
    this.#owner = {
      identity: this.identity,
      meter: this.#meter,
      frameBudget: this.#frameBudget,
      peerAdmit: (c) => this.#peerAdmit(c),
      peerReady: (c) => this.#peerReady(c),
      peerData: this.#peerData,
      peerRequest: this.#peerRequest,
      peerAck: this.#peerAck,
      released: this.#released,
      peerClosed: (c, r) => this.#peerClosed(c, r),
    };
  }

  readonly #owner: ConnectionOwner;

  /** A connection over `transport`, owned by this socket (a bind end's handshake is due by `handshakeDeadline`). */
  protected attach(transport: Transport, direction: "bind" | "connect", handshakeDeadline?: number): Connection {
    const conn = new Connection(transport, this.#owner, this.connOpts, direction, handshakeDeadline);
    this.conns.add(conn);
    return conn;
  }

  /** Identities of the peers currently connected. */
  get peerIdentities(): Buffer[] {
    return this.open.map((c) => c.peerIdentity!);
  }

  get peerCount(): number {
    return this.open.length;
  }

  /** Counters since the socket was made (in and out, drops by code, resends, reconnects) and each open peer's. */
  stats(): SocketStats {
    const t = this.#totals;
    const out: SocketStats = {
      messagesIn: t.messagesIn,
      bytesIn: t.bytesIn,
      messagesOut: t.messagesOut,
      bytesOut: t.bytesOut,
      queuedMessages: this.queue.length - this.queueHead,
      heldBytes: this.#meter.bytes,
      unreadMessages: this.inbox.length,
      unreadBytes: this.inbox.bytes,
      unacknowledged: this.pending.size,
      dropped: { ...this.#dropped },
      resends: t.resends,
      reconnects: t.reconnects,
      peers: [],
    };
    for (const c of this.conns) {
      out.messagesIn += c.messagesIn;
      out.bytesIn += c.bytesIn;
      out.messagesOut += c.messagesOut;
      out.bytesOut += c.bytesOut;
      if (!c.isOpen) continue;
      out.peers.push({
        identity: hex(c.peerIdentity!),
        protocol: c.dialect!.name,
        direction: c.direction,
        transport: c.transport.kind,
        remote: c.remote,
        messagesIn: c.messagesIn,
        bytesIn: c.bytesIn,
        messagesOut: c.messagesOut,
        bytesOut: c.bytesOut,
        queuedBytes: c.queuedBytes,
        queuedFrames: c.queuedFrames,
        unreadMessages: c.inbox?.length ?? 0,
        unacknowledged: c.unackedCount,
      });
    }
    return out;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  // --- connecting ------------------------------------------------------------

  /**
   * Keep a connection made by `dial` for the life of the socket: reconnect
   * after reconnectionDelay, back off after refusals. `what` names the
   * peer in errors.
   */
  protected keepConnected(what: string, dial: () => Promise<Transport>): void {
    this.loops.push(this.connectLoop(what, dial));
  }

  private async connectLoop(what: string, dial: () => Promise<Transport>): Promise<void> {
    /** Consecutive attempts the peer refused: each doubles the wait (see refusalBackoff). */
    let refusals = 0;
    let attempt = 0;
    let delay = 0;
    let connectedBefore = false;
    while (!this.closedFlag) {
      let conn: Connection | undefined;
      attempt++;
      if (attempt === 1) this.safeEmit("connecting", { target: what, attempt });
      if (channels.dial.hasSubscribers) channels.dial.publish({ socket: this, target: what, attempt, delay });
      try {
        const transport = await dial();
        if (this.closedFlag) {
          transport.destroy();
          break;
        }
        conn = this.attach(transport, "connect");
        conn.reconnect = connectedBefore;
      } catch (err) {
        if (this.closedFlag) break; // cut by close(): not a failure to report
        // Routine while a peer is down, so only reported to an attached
        // "error" listener (a TLS verification failure shows up here too).
        this.report(
          new AiomsgError("ERR_AIOMSG_CONNECT_FAILED", `connect to ${what} failed: ${(err as Error).message}`, {
            cause: err,
          }),
        );
      }
      if (conn) {
        await conn.done;
        if (conn.openedAt > 0) connectedBefore = true;
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
      delay = ms;
      this.safeEmit("reconnecting", { target: what, attempt: attempt + 1, delay: ms });
      await this.sleep(ms);
    }
  }

  /**
   * Whether a connect end's connection ended as a refusal: closed before the
   * peer greeted (ERR_AIOMSG_REFUSED, already reported: a TS bind end refuses
   * so), or dropped at heartbeatTimeout with nothing received after the
   * handshake (a Python 2026.7.1 bind end greets, then leaves a duplicate
   * identity's connection open and never reads or heartbeats on it; every
   * live aiomsg peer heartbeats).
   */
  private refused(conn: Connection): boolean {
    const reason = conn.closeReason;
    if (reason?.code === "ERR_AIOMSG_REFUSED") {
      if (channels.refused.hasSubscribers) channels.refused.publish({ socket: this, remote: conn.remote, error: reason });
      return true;
    }
    if (this.closedFlag || conn.openedAt === 0 || conn.framesAfterHello > 0 || reason?.code !== "ERR_AIOMSG_HEARTBEAT_TIMEOUT") return false;
    const lived = Math.round(conn.closedAt - conn.openedAt);
    const err = new AiomsgError(
      "ERR_AIOMSG_REFUSED",
      `${conn.remote} sent nothing after its HELLO for ${lived} ms: it probably refused this peer (a Python bind end does so for an identity already connected)`,
    );
    if (channels.refused.hasSubscribers) channels.refused.publish({ socket: this, remote: conn.remote, error: err });
    this.report(err, conn);
    return true;
  }

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
    if (channels.send.hasSubscribers) channels.send.publish({ socket: this, bytes: payload.length, identity });
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
    if (this.#meter.bytes > this.highWaterMark) return this.waitForRoom(signal);
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
      conn.queuedFrames + conn.unackedCount < this.peerHighWaterMessages
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
    this.#meter.bytes += entry.charge;
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
   * full (send() then waits once highWaterMark is reached).
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

  /**
   * The next open peer in turn that has room; undefined when every one is
   * full (the message then waits in the socket's queue for whichever peer
   * frees room first, rather than behind a slow one) or none is open. A
   * single peer takes messages beyond its own mark: there is no other to
   * give them to, and send() waits at highWaterMark all the same.
   */
  private nextPeer(): Connection | undefined {
    const open = this.open;
    const n = open.length;
    if (n === 1) return open[0];
    for (let k = 0; k < n; k++) {
      if (this.rr >= n) this.rr = 0;
      const conn = open[this.rr++]!;
      if (this.hasRoom(conn)) return conn;
    }
    return undefined;
  }

  private enqueue(item: Outgoing): void {
    this.queue.push(item);
    this.#meter.bytes += (Buffer.isBuffer(item) ? item.length : item.payload.length) + QUEUE_OVERHEAD;
  }

  /** Hand queued messages to peers, in send order, while a peer can take them. */
  private drainQueue(): void {
    const queue = this.queue;
    const publish = this.sendMode === SendMode.PUBLISH;
    while (this.queueHead < queue.length && this.open.length > 0) {
      const item = queue[this.queueHead]!;
      // Round-robin: the next peer in turn with room, or stop until one has room.
      const conn = publish ? undefined : this.nextPeer();
      if (!publish && conn === undefined) break;
      queue[this.queueHead++] = undefined as unknown as Outgoing;
      const isBuffer = Buffer.isBuffer(item);
      this.#meter.bytes -= (isBuffer ? item.length : item.payload.length) + QUEUE_OVERHEAD;
      if (conn === undefined) this.route(item as Buffer);
      else if (isBuffer) conn.writeData(item);
      else this.transmit(item, conn);
    }
    if (this.queueHead >= this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    this.checkRoom();
  }

  /**
   * Send (or resend) an at-least-once message and arm its resend deadline.
   * `to`: the peer chosen for an entry coming off the queue head.
   */
  private transmit(entry: Reliable, to?: Connection): void {
    detachFrom(entry);
    let conn: Connection | undefined = to;
    if (to !== undefined) {
      // chosen by drainQueue
    } else if (entry.identity !== undefined) {
      conn = this.peers.get(entry.identity.toString("latin1"));
      // Not connected, or full: keep it and retry at the deadline (the peer may come back or drain).
      if (conn !== undefined && !this.hasRoom(conn)) conn = undefined;
    } else {
      conn = this.open.length === 0 || this.queueHead < this.queue.length ? undefined : this.nextPeer();
      if (conn === undefined) {
        entry.seq++; // its resend slot, if any, is void while it waits in the queue
        this.enqueue(entry);
        return;
      }
    }
    if (conn !== undefined) {
      attachTo(entry, conn);
      conn.writeRequest(entry.msgId, entry.payload);
    }
    entry.deadline = performance.now() + this.resendInterval;
    this.resendFifo.push(entry);
    this.resendSeqs.push(++entry.seq);
    if (this.resendTimer === undefined) this.armResend(this.resendInterval);
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
      this.#totals.resends++;
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
    this.#dropped[code] = (this.#dropped[code] ?? 0) + 1;
    if (channels.drop.hasSubscribers) channels.drop.publish({ socket: this, code, bytes: payload.length, identity });
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

  // --- what connections call (through #owner) ------------------------------------------

  #peerAdmit(conn: Connection): ProtocolError | undefined {
    let refusal: ProtocolError | undefined;
    if (this.closedFlag) refusal = new ProtocolError("ERR_AIOMSG_SOCKET_CLOSED", "socket is closing");
    else if (this.peers.has(conn.key)) {
      refusal = new ProtocolError(
        "ERR_AIOMSG_DUPLICATE_IDENTITY",
        `identity ${hex(conn.peerIdentity!)} is already connected; refusing the new connection from ${conn.remote}`,
      );
    }
    if (refusal !== undefined && channels.refused.hasSubscribers) channels.refused.publish({ socket: this, remote: conn.remote, error: refusal });
    return refusal;
  }

  #peerReady(conn: Connection): void {
    conn.inbox = new PeerInbox(conn.peerIdentity!, conn);
    this.peers.set(conn.key, conn);
    this.open.push(conn);
    if (this.readingPaused) conn.pause();
    if (conn.reconnect) this.#totals.reconnects++;
    const info = this.info(conn);
    if (channels.connected.hasSubscribers) channels.connected.publish({ socket: this, peer: info });
    this.safeEmit("peerConnected", info);
    this.drainQueue();
  }

  /** A peer's share of the receive marks is the marks divided by this (see #peerData). */
  private shareDivisor(): number {
    return this.inbox.backlogged + 1;
  }

  /**
   * Receive policy: each peer may hold its share of the receive marks before
   * reading from it pauses, so a flooding peer is pushed back while the
   * others keep flowing; all reading pauses when the whole queue is over the
   * marks. The share is the marks divided by the peers with unread messages
   * plus one: backlogged peers together never fill the marks (a peer with
   * nothing queued is still read at once), and idle peers take no share (one
   * busy peer among 10,000 idle ones may hold half the marks, not 1/10,000).
   */
  readonly #peerData = (conn: Connection, body: Buffer, start: number): void => {
    const inbox = this.inbox;
    const q = conn.inbox!;
    conn.messagesIn++;
    conn.bytesIn += body.length - start;
    if (channels.receive.hasSubscribers) channels.receive.publish({ socket: this, bytes: body.length - start, identity: conn.peerIdentity });
    inbox.push(q, start === body.length ? EMPTY : start === 0 ? body : body.subarray(start), conn.source);
    if (!q.paused) {
      const n = this.shareDivisor();
      if (q.bytes > this.receiveHighWaterMark / n || q.length >= this.receiveHighWaterMessages / n) {
        q.paused = true;
        conn.pause();
      }
    }
    if (!this.readingPaused && (inbox.bytes > this.receiveHighWaterMark || inbox.length >= this.receiveHighWaterMessages)) {
      this.pauseReading();
    }
  };

  readonly #peerRequest = (conn: Connection, msgId: Buffer, body: Buffer, start: number): void => {
    this.#peerData(conn, body, start);
    // Acknowledge shortly after the payload is handed over, on the same
    // connection (wire.md): one timer serves every pending ACK.
    this.ackConns.push(conn);
    this.ackIds.push(msgId);
    if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(this.flushAcks, this.ackDelay);
    }
  };

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

  readonly #peerAck = (_conn: Connection, msgId: Buffer): void => {
    const entry = this.pending.get(msgKey(msgId));
    if (entry === undefined || !entry.msgId.equals(msgId)) return;
    this.settle(entry);
    // Acknowledged entries at the head of the resend FIFO go now, not at their deadline.
    const fifo = this.resendFifo;
    while (this.resendHead < fifo.length && (fifo[this.resendHead]!.done || this.resendSeqs[this.resendHead] !== fifo[this.resendHead]!.seq)) {
      this.popResend();
    }
  };

  /** An at-least-once message is acknowledged or given up: release its charge. */
  private settle(entry: Reliable): void {
    entry.done = true;
    this.pending.delete(entry.key);
    this.#meter.bytes -= entry.charge;
    const conn = entry.conn;
    detachFrom(entry);
    if (conn !== undefined) this.#released(conn);
    else this.afterRelease();
  }

  /** Room may have opened on `conn`: serve what waits for it, then the queue and send(). */
  readonly #released = (conn: Connection): void => {
    if (conn.isOpen && this.hasRoom(conn)) {
      if (this.peerWaiters.size > 0) this.servePeerWaiters(conn);
      if (this.queueHead < this.queue.length) this.drainQueue();
    }
    this.afterRelease();
  };

  private afterRelease(): void {
    this.checkRoom();
    if (this.#meter.bytes === 0) this.checkIdle();
  }

  #peerClosed(conn: Connection, reason: AiomsgError | undefined): void {
    this.conns.delete(conn);
    const t = this.#totals;
    t.messagesIn += conn.messagesIn;
    t.bytesIn += conn.bytesIn;
    t.messagesOut += conn.messagesOut;
    t.bytesOut += conn.bytesOut;
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
      const info = { ...this.info(conn), reason };
      if (channels.closed.hasSubscribers) channels.closed.publish({ socket: this, peer: info, error: reason });
      this.safeEmit("peerDisconnected", info);
      this.failPeerWaiters(conn);
      // Unacknowledged messages sent on this connection go out again now
      // rather than waiting for their deadline: work in proportion to this
      // peer's own messages, whatever else is pending.
      if (conn.unackedCount > 0) {
        const mine = unackedOn(conn);
        for (const entry of mine) {
          if (this.closedFlag) detachFrom(entry);
          else {
            this.#totals.resends++;
            this.transmit(entry);
          }
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
    this.inbox.readingPaused = true;
    for (const c of this.open) c.pause();
  }

  private readonly onTaken = (q: PeerInbox<Connection>): void => {
    if (q.paused) {
      const n = this.shareDivisor();
      if (q.bytes <= this.receiveHighWaterMark / n / 2 && q.length <= this.receiveHighWaterMessages / n / 2) {
        q.paused = false;
        if (!this.readingPaused) q.source.resume();
      }
    }
    if (this.readingPaused && this.inbox.bytes <= this.receiveHighWaterMark / 2 && this.inbox.length <= this.receiveHighWaterMessages / 2) {
      this.readingPaused = false;
      this.inbox.readingPaused = false;
      for (const c of this.open) if (!c.inbox!.paused) c.resume();
    }
  };

  private checkRoom(): void {
    if (this.roomWaiters.length === 0 || this.#meter.bytes > this.highWaterMark) return;
    const ws = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of ws) w();
  }

  private get idle(): boolean {
    return this.queueHead >= this.queue.length && this.#meter.bytes <= 0 && this.pending.size === 0;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.idle) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  // --- events ------------------------------------------------------------------------

  protected report(err: AiomsgError, conn?: Connection): void {
    debug("%s%s: %s", err.code, conn ? ` (${conn.describe()})` : "", err.message);
    if (this.listenerCount("error") > 0) this.safeEmit("error", err);
  }

  /** A listener that throws must not break the connection that triggered it. */
  protected safeEmit<K extends keyof SocketEvents>(event: K, ...args: SocketEvents[K]): void {
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

  /** close(): stop accepting and dialling; resolves when listeners are closed. */
  protected stopTransports(): Promise<void>[] {
    return [];
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

    for (const wake of [...this.sleepers]) wake();
    const serversClosed = this.stopTransports();
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

