/**
 * What every aiomsg socket is, whatever carries its bytes: a facade that
 * owns the public API (send, stats, close, drain; recv and events come from
 * socket-api.ts) and wires together the collaborators that hold the policy,
 * each in the file named for its concept:
 * - peers.ts: the registry of Peer records (peer.ts), one per connection;
 * - round-robin.ts and publish.ts: which peer gets a message; room.ts: when a peer is full;
 * - outbox.ts: where each message goes, in send order (by identity, or the router);
 * - send-queue.ts: what waits for a peer, and send()'s high-water wait;
 * - reliability.ts: at-least-once ids, resends, the retry limit; ack-batcher.ts: the ACKs we owe;
 * - receive-flow.ts: the receive queue and when reading from a peer pauses;
 * - redial.ts: a connect end's reconnect loop and refusal backoff;
 * - admission.ts: the gate between a peer's handshake and its admission (admit, admissionToken).
 * - drain.ts: leaving without loss, one peer or all (docs/fleet.md).
 * Bytes are the connections' business (connection.ts), and how connections
 * are made is the subclass's: the Node Socket (socket.ts) binds and dials
 * TCP, TLS and WebSocket; the browser Socket (browser.ts) dials the
 * browser's WebSocket. Nothing here imports a Node network module.
 */
import { Buffer } from "node:buffer";
import { SocketApi } from "./socket-api.js";
import { Connection, type ConnectionOptions, type ConnectionOwner, type ProtocolOption } from "./connection.js";
import type { WriteMeter } from "./frame-writer.js";
import { AiomsgError, ProtocolError, UsageError } from "./errors.js";
import { SharedFrameBudget } from "./wire/frame.js";
import type { Transport } from "./transport.js";
import { DEBUG, debug, hex } from "./log.js";
import { DeliveryGuarantee, SendMode, resolveOptions, warnPythonHeartbeat, type SendOptions, type SocketOptions } from "./options.js";
import { OBSERVED, channels } from "./observe.js";
import { Peer } from "./peer.js";
import { Peers } from "./peers.js";
import { Room } from "./room.js";
import { RoundRobin } from "./round-robin.js";
import { Publish } from "./publish.js";
import { SendQueue } from "./send-queue.js";
import { Reliability } from "./reliability.js";
import { Outbox, toPayload, type Drop } from "./outbox.js";
import { AckBatcher } from "./ack-batcher.js";
import { ReceiveFlow } from "./receive-flow.js";
import type { ReceiveQueue } from "./queue.js";
import { Redial, type Kept } from "./redial.js";
import { Admission } from "./admission.js";
import { WaitList } from "./wait.js";
import { Drain } from "./drain.js";
import type { SocketStats, TargetStats } from "./socket-types.js";

export type { PeerInfo, PeerDisconnectInfo, DroppedMessage, SocketEvents, SocketStats, PeerStats, TargetStats, AdmissionRequest, AdmitHook, AdmissionToken, PeerCertificate } from "./socket-types.js";
export type { Kept } from "./redial.js";

export abstract class SocketBase extends SocketApi implements AsyncDisposable {
  readonly identity: Buffer;
  readonly sendMode: SendMode;
  readonly deliveryGuarantee: DeliveryGuarantee;
  readonly protocol: ProtocolOption;
  protected readonly connOpts: ConnectionOptions;
  protected readonly maxPeers: number;
  private readonly maxSendSize: number;
  protected closing = false;
  protected closedFlag = false;
  /** drain() began: accept, dial and admit no more (closedFlag follows once it is done). */
  protected stopping = false;

  private readonly peers = new Peers();
  private readonly room: Room;
  /** Round-robin cursor (its repair on a peer's removal). */
  private readonly rr: RoundRobin;
  private readonly queue: SendQueue;
  /** Frames written and not yet taken by the kernel, every connection together. */
  private readonly writes: WriteMeter = { bytes: 0, batching: 0 };
  private readonly reliability: Reliability;
  private readonly outbox: Outbox;
  private readonly acks: AckBatcher;
  private readonly flow: ReceiveFlow;
  protected readonly inbox: ReceiveQueue;
  private readonly redial: Redial;
  private readonly admission: Admission;
  /** What connections may call: kept off the public type. */
  private readonly owner: ConnectionOwner;
  /** close() waiting up to linger for everything to be delivered. */
  private readonly idleWaiters = new WaitList<void>();
  private readonly drainer: Drain;
  private readonly lingerMs: number;
  private closePromise: Promise<void> | undefined;
  // Counters for stats(); per-peer ones live on each Peer and are added here when it closes.
  private readonly totals = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0, reconnects: 0 };
  /** Closed connections whose last writes are not settled yet (see Connection.done). */
  private readonly settling = new Set<Promise<void>>();

  constructor(options: SocketOptions = {}) {
    super();
    const o = resolveOptions(options);
    warnPythonHeartbeat(o.conn.heartbeatInterval, o.conn.heartbeatTimeout);
    this.sendMode = o.sendMode;
    this.deliveryGuarantee = o.deliveryGuarantee;
    this.protocol = o.protocol;
    this.identity = o.identity;
    this.connOpts = o.conn;
    this.maxPeers = o.maxPeers;
    this.maxSendSize = o.maxSendSize;
    this.lingerMs = o.linger;
    const open = this.peers.open;
    this.room = new Room(o.peerHighWaterMark, o.peerHighWaterMessages);
    this.rr = new RoundRobin(open, this.room);
    const drop: Drop = (code, payload, identity) => this.drop(code, payload, identity);
    const router = o.sendMode === SendMode.PUBLISH ? new Publish(open, this.room, (payload, peer) => drop("ERR_AIOMSG_PEER_FULL", payload, peer.identity)) : this.rr;
    this.reliability = new Reliability(o.resendInterval, o.maxResends, {
      resend: (entry) => this.outbox.routeReliable(entry),
      dropped: drop,
      settled: (peer) => this.released(peer),
    });
    this.queue = new SendQueue(o.highWaterMark, this.writes, this.reliability);
    this.outbox = new Outbox(this.peers, this.room, router, this.rr, this.queue, o.reliable ? this.reliability : undefined, drop);
    this.acks = new AckBatcher(o.ackDelay, this.room, this.writes);
    this.flow = new ReceiveFlow(o.receiveHighWaterMark, o.receiveHighWaterMessages, open);
    this.inbox = this.flow.queue;
    this.drainer = new Drain({
      peers: this.peers,
      rr: this.rr,
      acks: this.acks,
      outbox: this.outbox,
      reliability: this.reliability,
      idle: this.idleWaiters,
      closed: () => this.closedFlag,
      draining: (peer) => this.safeEmit("peerDraining", peer.info()),
    });
    this.admission = new Admission(o.admit, o.admissionToken, o.admissionTimeout, {
      info: (peer) => peer.info(),
      open: (peer) => this.open(peer),
      deliver: (peer, payload, msgId) => {
        this.deliver(peer, payload, 0, payload.length);
        if (msgId !== undefined) this.acks.push(peer, msgId);
      },
      ack: (peer, msgId) => this.acks.push(peer, msgId),
      closed: () => this.closedFlag || this.stopping,
    });
    this.redial = new Redial({
      socket: this,
      sendsToken: o.admissionToken !== undefined,
      closed: () => this.closedFlag || this.stopping,
      reconnectionDelay: o.reconnectionDelay,
      attach: (transport, target, address, reconnect) => {
        const conn = this.attach(transport, "connect");
        conn.peer.target = target;
        conn.peer.address = address;
        conn.peer.reconnect = reconnect;
        return conn;
      },
      connecting: (target, attempt, address) => this.safeEmit("connecting", address === undefined ? { target, attempt } : { target, attempt, address }),
      reconnecting: (target, attempt, delay, address) =>
        this.safeEmit("reconnecting", address === undefined ? { target, attempt, delay } : { target, attempt, delay, address }),
      report: (err, conn) => this.report(err, conn),
    });
    this.owner = {
      identity: this.identity,
      meter: this.writes,
      frameBudget: new SharedFrameBudget(o.partialFrameBudget),
      peerAdmit: (c) => this.admit(c),
      peerReady: (c) => this.ready(c),
      peerData: this.onData,
      peerRequest: this.onRequest,
      peerAck: this.onAck,
      released: this.onReleased,
      peerUnwritten: (c, payloads, err) => this.peerUnwritten(c, payloads, err),
      // A peer going away (its FIN): the ACKs owed to it leave before this end's own FIN.
      peerEnded: () => this.acks.flush(),
      peerClosed: (c, r) => this.peerClosed(c, r),
    };
  }

  /** A connection over `transport`, owned by this socket (a bind end's handshake is due by `handshakeDeadline`). */
  protected attach(transport: Transport, direction: "bind" | "connect", handshakeDeadline?: number): Connection {
    const conn = new Connection(transport, this.owner, this.connOpts, direction, handshakeDeadline);
    conn.peer = new Peer(conn, direction);
    this.peers.add(conn.peer);
    return conn;
  }

  /** Connections, handshaking or open (for maxPeers). */
  protected get connectionCount(): number {
    return this.peers.size;
  }

  /** Keep a connection made by `dial` (redial.ts); `what` names the peer; a followed name's `address` and `park` (replicas.ts). */
  protected keepConnected(
    what: string,
    dial: () => Promise<Transport>,
    address?: string,
    park?: (kept: Kept) => Promise<void>,
    diagnose?: () => Promise<AiomsgError | undefined>,
  ): Kept {
    return this.redial.keep(what, dial, address, park, diagnose);
  }

  /** How long a connection whose address left DNS may take to drain (linger). */
  protected get drainTimeout(): number {
    return this.lingerMs;
  }

  /** Followed names for stats() (the Node Socket's connect() to a name, see replicas.ts). */
  protected targetStats(): TargetStats[] {
    return [];
  }

  /** Identities of the peers currently connected. */
  get peerIdentities(): Buffer[] {
    return this.peers.open.map((p) => p.identity!);
  }

  get peerCount(): number {
    return this.peers.open.length;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Counters since the socket was made (in and out, drops by code, resends, reconnects) and each open peer's. */
  stats(): SocketStats {
    const t = this.totals;
    const out: SocketStats = {
      messagesIn: t.messagesIn,
      bytesIn: t.bytesIn,
      messagesOut: t.messagesOut,
      bytesOut: t.bytesOut,
      queuedMessages: this.queue.length,
      heldBytes: this.queue.held,
      unreadMessages: this.inbox.length,
      unreadBytes: this.inbox.bytes,
      unacknowledged: this.reliability.size,
      dropped: { ...this.dropped },
      resends: this.reliability.resends,
      reconnects: t.reconnects,
      peers: [],
      targets: this.targetStats(),
    };
    this.peers.addStats(out);
    return out;
  }

  // --- sending -----------------------------------------------------------------

  /**
   * Send one message. Resolves once the socket has accepted it: at once while
   * under the high-water mark, otherwise when enough has been written.
   */
  send(data: Uint8Array | string, options?: SendOptions): Promise<void> {
    if (this.closing) return Promise.reject(new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "send() after close() or drain()"));
    const payload = toPayload(data, this.maxSendSize);
    if (!(payload instanceof Uint8Array)) return Promise.reject(payload);
    if (options === undefined) {
      if (OBSERVED && channels.send.hasSubscribers) channels.send.publish({ socket: this, bytes: payload.length, identity: undefined });
      return this.outbox.send(payload, undefined, undefined, undefined);
    }
    return this.sendWith(payload, options);
  }

  /** send() with options: checked, then routed as send() routes. */
  private sendWith(payload: Uint8Array, options: SendOptions): Promise<void> {
    let identity: Buffer | undefined;
    try {
      identity = this.outbox.checkOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (OBSERVED && channels.send.hasSubscribers) channels.send.publish({ socket: this, bytes: payload.length, identity });
    return this.outbox.send(payload, identity, options.signal, options.retries);
  }

  // --- what connections call (through owner) ------------------------------------------

  private admit(conn: Connection): ProtocolError | undefined {
    const peer = conn.peer;
    peer.identity = conn.peerIdentity;
    peer.key = conn.key;
    const refusal =
      this.closedFlag || this.stopping ? new ProtocolError("ERR_AIOMSG_SOCKET_CLOSED", "socket is closing") : this.peers.duplicate(peer, conn.remote);
    if (refusal !== undefined && OBSERVED && channels.refused.hasSubscribers) channels.refused.publish({ socket: this, remote: conn.remote, error: refusal });
    return refusal;
  }

  private ready(conn: Connection): void {
    // With a gate (admission.ts) the peer stays pending until it is admitted.
    if (this.admission.active) this.admission.start(conn.peer);
    else this.open(conn.peer);
  }

  /** The peer is admitted: routed to, read from, announced; what waited for a peer goes out. */
  private open(peer: Peer): void {
    this.peers.admit(peer);
    this.flow.admitted(peer);
    if (peer.reconnect) this.totals.reconnects++;
    const info = peer.info();
    if (OBSERVED && channels.connected.hasSubscribers) channels.connected.publish({ socket: this, peer: info });
    this.safeEmit("peerConnected", info);
    this.outbox.drainQueue();
  }

  private readonly onData = (conn: Connection, body: Buffer, start: number, end: number): void => {
    const peer = conn.peer;
    // A pending peer's messages wait at the gate (or are its token).
    if (peer.state === "pending" && this.admission.hold(peer, body.subarray(start, end), undefined)) return;
    this.deliver(peer, body, start, end);
  };

  /** A payload (`body` from `start` to `end`) for the receive queue; `body` is what a view of it keeps alive. */
  private deliver(peer: Peer, body: Buffer, start: number, end: number): void {
    peer.messagesIn++;
    peer.bytesIn += end - start;
    if (OBSERVED && channels.receive.hasSubscribers) channels.receive.publish({ socket: this, bytes: end - start, identity: peer.identity });
    this.flow.push(peer, body, start, end);
  }

  private readonly onRequest = (conn: Connection, body: Buffer, idAt: number, start: number, end: number): void => {
    if (conn.peer.state === "pending" && this.admission.hold(conn.peer, body.subarray(start, end), body.subarray(idAt, idAt + 16))) return;
    this.onData(conn, body, start, end);
    // Acknowledged shortly after the payload is handed over, on the same connection.
    this.acks.push(conn.peer, body, idAt);
  };

  private readonly onAck = (_conn: Connection, body: Buffer, idAt: number): void => {
    this.reliability.acked(body, idAt);
  };

  private readonly onReleased = (conn: Connection): void => {
    this.released(conn.peer);
  };

  private released(peer: Peer | undefined): void {
    // What room lets out now leaves in one write per peer (see WriteMeter.batching).
    this.writes.batching++;
    try {
      this.outbox.released(peer);
    } finally {
      this.writes.batching--;
    }
    this.drainer.released();
    if (this.idleWaiters.length > 0 && this.queue.held === 0 && this.outbox.idle) this.idleWaiters.wakeAll();
  }

  /** A write that failed after its connection's orderly close: its at-most-once messages are reported. */
  private peerUnwritten(conn: Connection, payloads: Buffer[], err: Error): void {
    const reason = new AiomsgError("ERR_AIOMSG_PEER_LOST", `write to ${conn.describe()} failed after close: ${err.message}`, { cause: err });
    const code = this.closedFlag ? "ERR_AIOMSG_CLOSE_LINGER" : "ERR_AIOMSG_PEER_LOST";
    for (const payload of payloads) this.drop(code, payload, conn.peerIdentity, reason);
  }

  private peerClosed(conn: Connection, reason: AiomsgError | undefined): void {
    // close() resolves only once this connection's writes are settled (written or reported).
    const settled = conn.done;
    this.settling.add(settled);
    void settled.then(() => this.settling.delete(settled));
    const peer = conn.peer;
    this.admission.gone(peer);
    const t = this.totals;
    t.messagesIn += peer.messagesIn;
    t.bytesIn += peer.bytesIn;
    t.messagesOut += peer.messagesOut;
    t.bytesOut += peer.bytesOut;
    // At-most-once messages that never fully left this process: reported, not silently lost.
    const code = this.closedFlag ? "ERR_AIOMSG_CLOSE_LINGER" : "ERR_AIOMSG_PEER_LOST";
    for (const payload of conn.takeUnwritten()) this.drop(code, payload, conn.peerIdentity, reason);
    const { admitted, index } = this.peers.remove(peer);
    if (index >= 0) this.rr.removed(index);
    if (admitted) {
      const info = { ...peer.info(), reason };
      if (OBSERVED && channels.closed.hasSubscribers) channels.closed.publish({ socket: this, peer: info, error: reason });
      this.safeEmit("peerDisconnected", info);
      this.outbox.peerGone(peer, code, this.closedFlag);
    }
    if (reason) this.report(reason, conn);
  }

  // --- closing ------------------------------------------------------------------------

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

  /**
   * Leave without loss, the shutdown for SIGTERM (drain.ts, docs/fleet.md):
   * accept, dial and take sends no more; deliver what send() accepted and
   * await its ACKs; half-close every peer and read until each has finished;
   * then close, reporting what is left (ERR_AIOMSG_CLOSE_LINGER). Within
   * `timeout` ms (default linger). `process.once("SIGTERM", () => void sock.drain())`.
   */
  drain(options?: { timeout?: number }): Promise<void> {
    if (this.closePromise) return this.closePromise;
    const timeout = options?.timeout ?? this.lingerMs;
    if (!Number.isFinite(timeout) || timeout < 0) {
      return Promise.reject(new UsageError("ERR_AIOMSG_INVALID_OPTION", `drain() timeout must be a number of ms >= 0, got ${String(timeout)}`));
    }
    this.closing = true;
    this.closePromise = this.doDrain(timeout);
    return this.closePromise;
  }

  private async doDrain(timeout: number): Promise<void> {
    this.stopping = true;
    const loops = this.redial.stop();
    const serversClosed = this.stopTransports();
    await this.drainer.all(timeout);
    await this.doClose(0);
    await Promise.all([loops, ...serversClosed]);
  }

  /** Drain one connection (its address left DNS, see replicas.ts and drain.ts); resolves once it is closed. */
  protected drainConnection(conn: Connection, timeout: number): Promise<void> {
    return this.drainer.connection(conn, timeout);
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
    this.acks.flush();
    if (!this.outbox.idle && linger > 0) {
      for (const p of this.peers.open) p.conn.flush();
      await this.idleWaiters.sleep(linger, undefined, undefined);
    }
    this.closedFlag = true;
    this.acks.flush();
    const loops = this.redial.stop();
    const serversClosed = this.stopTransports();
    // What could not be delivered is reported, never silently dropped, in
    // send order: first what was written to peers, then what waited in the queue.
    for (const p of [...this.peers.all]) {
      // A peer that did not take what it was sent within linger is cut off;
      // what it did not get is reported by peerClosed.
      const c = p.conn;
      c.close(c.queuedBytes > 0 ? new AiomsgError("ERR_AIOMSG_CLOSE_LINGER", `${c.describe()} did not take its data within linger`) : undefined);
    }
    this.outbox.close();
    this.reliability.close();
    this.inbox.end();
    await Promise.all([...serversClosed, loops, ...this.settling]);
    if (DEBUG) debug("socket %s closed", hex(this.identity));
  }
}
