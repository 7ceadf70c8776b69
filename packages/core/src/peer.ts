/**
 * The socket's record of one peer connection (one per Connection, made when
 * the transport is attached): what the socket keeps about a peer, apart from
 * the bytes its Connection carries. The socket's collaborators share it: the
 * registry (peers.ts) admits and removes it, the routers (round-robin.ts,
 * publish.ts) write to it while it has room (room.ts), reliability.ts links
 * its unacknowledged messages through it, receive-flow.ts queues its
 * messages in `inbox` and pauses its reading, and a send by identity to it
 * waits in `waiters` while it is full.
 */
import type { Connection } from "./connection.js";
import type { FrameWriter, IdWords } from "./frame-writer.js";
import { hex } from "./log.js";
import type { PeerInfo, PeerStats } from "./socket-types.js";
import type { PeerInbox } from "./queue.js";
import type { WaitList } from "./wait.js";

/**
 * - pending: handshaking, or greeted and awaiting admission (today admission
 *   is decided at once, in the handshake; an admission gate would hold peers here);
 * - admitted: open, routed to, read from;
 * - draining: routed to no more, finishing what it holds (drain(), or its
 *   address left DNS): still read from and acknowledged until it half-closes;
 * - closed: its connection has ended.
 */
export type PeerState = "pending" | "admitted" | "draining" | "closed";

export class Peer {
  // The fields a message sent to it touches come first, together: a hub
  // round-robins over many peers, each message to another, so what a message
  // reads of its peer should sit in as few cache lines as possible.
  /** Its connection's write path: a message is framed there directly. */
  readonly writer: FrameWriter;
  /**
   * At-least-once messages sent to it and not yet acknowledged: their
   * charge, how many, and the newest of them (a list linked through the
   * messages, see reliability.ts).
   */
  unackedBytes = 0;
  unackedCount = 0;
  // Counters for Socket.stats().
  messagesOut = 0;
  bytesOut = 0;
  /** Its dialect's DATA frame head, once it has spoken (the handshake sets the dialect for good). */
  private dataHead: Buffer | undefined = undefined;
  state: PeerState = "pending";
  /**
   * The identity from its HELLO, set once the handshake parsed it. Any
   * length: v1 and legacy carry 16 bytes, but nothing here assumes so
   * (`key` is its bytes as latin1, one char per byte).
   */
  identity: Buffer | undefined = undefined;
  /** Map key of `identity` ("" before the handshake). */
  key = "";
  /**
   * A connect end's target as the application named it (e.g.
   * "tcp://svc.local:25000"), and the address it resolved to for this
   * connection (`address` only when connect() follows a name: one peer
   * per resolved address, replicas.ts). Set by the redial loop; undefined
   * on bind ends.
   */
  target: string | undefined = undefined;
  address: string | undefined = undefined;
  /** Made by a connect end that had been connected before (counted in stats().reconnects). */
  reconnect = false;
  /** Its unread messages in the socket's receive queue (made when it is admitted). */
  inbox: PeerInbox<Connection> | undefined = undefined;
  unackedTail: object | undefined = undefined;
  /** Sends by identity waiting for its room, oldest first (made on the first). */
  waiters: WaitList<void, Uint8Array> | undefined = undefined;
  // Counters for Socket.stats() (the outgoing ones are above).
  messagesIn = 0;
  bytesIn = 0;

  constructor(
    readonly conn: Connection,
    readonly direction: "bind" | "connect",
  ) {
    this.writer = conn.writer;
  }

  /** Admitted and its connection still open (a closing connection reports its last releases first). */
  get isOpen(): boolean {
    return this.state === "admitted" && this.conn.isOpen;
  }

  /** Admitted or draining, its connection open and not half-closed: ACKs may still be written to it. */
  get writable(): boolean {
    return (this.state === "admitted" || this.state === "draining") && this.conn.isOpen && !this.conn.halfClosed;
  }

  /** Queue an at-most-once message to it. */
  writeData(payload: Uint8Array): void {
    this.messagesOut++;
    this.bytesOut += payload.length;
    this.writer.frame((this.dataHead ??= this.conn.dialect!.dataHead), payload);
  }

  /** Queue an at-least-once message to it. */
  writeRequest(id: IdWords, payload: Uint8Array): void {
    this.messagesOut++;
    this.bytesOut += payload.length;
    this.conn.writeRequest(id, payload);
  }

  /** What the peerConnected, peerDisconnected and peerDraining events say about it. */
  info(): PeerInfo {
    const c = this.conn;
    const info: PeerInfo = { identity: this.identity!, protocol: c.dialect!.name, direction: this.direction, remote: c.remote, transport: c.transport.kind };
    if (this.target !== undefined) info.target = this.target;
    if (this.address !== undefined) info.address = this.address;
    return info;
  }

  /** Its line in Socket.stats() (admitted and draining peers). */
  stats(): PeerStats {
    const c = this.conn;
    const out: PeerStats = {
      identity: hex(this.identity!),
      state: this.state === "draining" ? "draining" : "admitted",
      protocol: c.dialect!.name,
      direction: this.direction,
      transport: c.transport.kind,
      remote: c.remote,
      messagesIn: this.messagesIn,
      bytesIn: this.bytesIn,
      messagesOut: this.messagesOut,
      bytesOut: this.bytesOut,
      queuedBytes: c.queuedBytes,
      queuedFrames: c.queuedFrames,
      unreadMessages: this.inbox?.length ?? 0,
      unacknowledged: this.unackedCount,
    };
    if (this.target !== undefined) out.target = this.target;
    if (this.address !== undefined) out.address = this.address;
    return out;
  }
}
