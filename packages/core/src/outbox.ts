/**
 * The send side of a socket: every message send() accepts passes through
 * here, and this decides where it goes, in send order. By identity: to that
 * peer, or a wait for its room (room.ts), or a drop when it is absent.
 * Without identity: behind whatever is queued (send-queue.ts), else to the
 * router (publish.ts or round-robin.ts). At-least-once messages take the
 * same routes, registered and resent by reliability.ts; one without identity
 * goes only to a peer with room (a lone peer too), and waits in the queue as
 * a plain payload until one has, so that a message is registered (given its
 * id and record) only once it is sent: the unacknowledged messages stay
 * within the peers' marks, and a backlog costs its payloads, not a record
 * each (measured: an 8 MiB window of records cost the sender a third more
 * CPU per message than a 1 MiB one, in garbage collection). When room opens on a
 * peer (a write completed, an ACK settled a message), what waits for it and
 * then the queue go out.
 */
import { Buffer } from "node:buffer";
import { AiomsgError, UsageError } from "./errors.js";
import { DEBUG, debug, hex } from "./log.js";
import type { Peer } from "./peer.js";
import type { Peers } from "./peers.js";
import type { Publish } from "./publish.js";
import type { Reliability, Reliable } from "./reliability.js";
import type { Room } from "./room.js";
import type { RoundRobin } from "./round-robin.js";
import type { Outgoing, SendQueue } from "./send-queue.js";
import type { DroppedMessage } from "./socket-types.js";
import { checkIdentity, type SendOptions } from "./options.js";
import { WaitList } from "./wait.js";

export type Drop = (code: DroppedMessage["code"], payload: Uint8Array, identity: Buffer | undefined) => void;

export class Outbox {
  constructor(
    private readonly peers: Peers,
    private readonly room: Room,
    /** At-most-once routing: `rr`, or publish. */
    private readonly router: RoundRobin | Publish,
    /** Round-robin: the router of at-least-once messages without identity (publish sends those at-most-once). */
    private readonly rr: RoundRobin,
    private readonly queue: SendQueue,
    /** Set for an at-least-once socket. */
    private readonly reliability: Reliability | undefined,
    private readonly drop: Drop,
  ) {}

  /**
   * Route one accepted message; resolves as send() does (see
   * SendQueue.accepted). On an at-least-once socket every message is sent
   * at-least-once, except a published one (without identity on a publish
   * socket): as in Python, that goes out as DATA to every peer, since no one
   * acknowledgement could stand for all of them.
   */
  send(payload: Uint8Array, identity: Buffer | undefined, signal: AbortSignal | undefined, retries?: number): Promise<void> {
    if (this.reliability !== undefined && (identity !== undefined || this.router === this.rr)) {
      // Registered when a peer with room takes it (see the file comment), unless it has its own retries.
      if (identity === undefined && retries === undefined) {
        if (this.mustQueue() || !this.sendNew(payload)) this.enqueue(payload);
      } else this.routeReliable(this.reliability.create(payload, identity, retries));
    } else if (identity !== undefined) {
      const peer = this.peers.get(identity);
      if (peer === undefined) {
        // Python drops these with an error log; here the drop is an event.
        if (DEBUG) debug("peer %s not connected: message dropped", hex(identity));
        this.drop("ERR_AIOMSG_NOT_CONNECTED", payload, identity);
      } else if (!this.room.has(peer) || (peer.waiters !== undefined && peer.waiters.length > 0)) {
        // Only this peer's room matters: others are not held up. Resolves once written to it (or dropped if it goes).
        return (peer.waiters ??= new WaitList()).wait(signal, "send aborted while waiting for the peer's room (the message was not sent)", payload);
      } else {
        peer.writeData(payload);
      }
    } else if (this.mustQueue() || !this.router.deliver(payload)) this.enqueue(payload);
    return this.queue.accepted(payload.length, signal);
  }

  /** An at-least-once message without identity to the next peer with room: registered and sent; false when none has room. */
  private sendNew(payload: Uint8Array, now?: number): boolean {
    const peer = this.rr.nextWithRoom();
    if (peer === undefined) return false;
    const reliability = this.reliability!;
    reliability.sendOn(reliability.create(payload, undefined, undefined), peer, now);
    return true;
  }

  /**
   * send()'s options checked (throws UsageError): the identity to send to. A
   * peer's own identity Buffer (from recvIdentity or peerIdentities) is used
   * as is; any other is checked and copied.
   */
  checkOptions(options: SendOptions): Buffer | undefined {
    if (options.retries !== undefined) checkRetries(options.retries, this.reliability !== undefined);
    const id = options.identity;
    if (id === undefined) return undefined;
    return this.peers.owns(id) ? id : checkIdentity(id, "send identity");
  }

  /** Send order: a message without identity waits behind whatever is queued, and for an admitted peer. */
  private mustQueue(): boolean {
    return this.peers.open.length === 0 || this.queue.length > 0;
  }

  private enqueue(item: Outgoing): void {
    if (!(item instanceof Uint8Array)) this.reliability!.queued(item);
    this.queue.push(item);
  }

  /**
   * Route an at-least-once message (new, or again at its deadline or after
   * its peer went): to its addressed peer if admitted with room (else it
   * waits for its deadline), otherwise as at-most-once messages go.
   */
  routeReliable(entry: Reliable): void {
    const reliability = this.reliability!;
    if (entry.identity !== undefined) {
      const peer = this.peers.get(entry.identity);
      reliability.sendOn(entry, peer !== undefined && this.room.has(peer) ? peer : undefined);
      return;
    }
    const peer = this.mustQueue() ? undefined : this.rr.next();
    if (peer !== undefined) {
      reliability.sendOn(entry, peer);
      return;
    }
    // Queued, it leaves the peer it was sent on: that peer's room may have opened.
    const was = entry.peer;
    this.enqueue(entry);
    if (was !== undefined) this.released(was);
  }

  /** Hand queued messages to peers, in send order, while a peer can take them. */
  drainQueue(): void {
    const queue = this.queue;
    // One clock reading for the at-least-once messages this drain sends (their
    // deadlines): it lasts a fraction of a millisecond, a resend interval is seconds.
    let now = -1;
    while (queue.length > 0 && this.peers.open.length > 0) {
      const item = queue.peek()!;
      if (!(item instanceof Uint8Array)) {
        // Settled while it waited (its ACK came from the peer it was first sent on): nothing to send.
        if (item.done) {
          queue.shift();
          this.reliability!.recycle(item); // nothing names it now
          continue;
        }
        const peer = this.rr.next();
        if (peer === undefined) break;
        queue.shift();
        if (now < 0) now = performance.now();
        this.reliability!.sendOn(item, peer, now);
      } else if (this.reliability !== undefined && this.router === this.rr) {
        // An at-least-once message not yet registered.
        if (now < 0) now = performance.now();
        if (!this.sendNew(item, now)) break;
        queue.shift();
      } else {
        // Publish always delivers; round-robin stops until a peer has room.
        if (!this.router.deliver(item)) break;
        queue.shift();
      }
    }
    queue.checkRoom();
  }

  /** Room may have opened on `peer` (or anywhere): serve what waits for it, then the queue and send(). */
  released(peer: Peer | undefined): void {
    if (peer === undefined) {
      // A message settled off any peer (queued, or waiting for its addressed one): the socket holds less.
      if (this.queue.length > 0) this.drainQueue();
    } else if (peer.isOpen && this.room.has(peer)) {
      const waiters = peer.waiters;
      // Sends by identity waiting for this peer, in send order, while it has room.
      while (waiters !== undefined && waiters.length > 0 && this.room.has(peer)) {
        const w = waiters.take()!;
        peer.writeData(w.data);
        w.resolve();
      }
      if (this.queue.length > 0) this.drainQueue();
    }
    this.queue.checkRoom();
  }

  /**
   * An admitted peer left: what waited for its room is reported dropped
   * (`code`), as a send to an absent peer is, and its unacknowledged
   * messages go to another peer now (or, closing, are given up later).
   */
  peerGone(peer: Peer, code: DroppedMessage["code"], closing: boolean): void {
    const waiters = peer.waiters;
    for (let w = waiters?.take(); w !== undefined; w = waiters!.take()) {
      this.drop(code, w.data, peer.identity);
      w.resolve();
    }
    this.reliability?.peerLost(peer, closing);
  }

  /** Nothing queued, unwritten or unacknowledged. */
  get idle(): boolean {
    return this.queue.length === 0 && this.queue.held <= 0 && (this.reliability?.size ?? 0) === 0;
  }

  /** close(): what is still queued is given up (at-least-once ones are reported by reliability). */
  close(): void {
    for (const item of this.queue.drain()) if (item instanceof Uint8Array) this.drop("ERR_AIOMSG_CLOSE_LINGER", item, undefined);
    this.queue.release();
  }
}

/**
 * send()'s data as bytes (a string as UTF-8; a Uint8Array as it is: no
 * Buffer view is made per message, which a queued at-least-once message
 * would carry into the old generation), or the error to reject with.
 */
export function toPayload(data: unknown, maxSendSize: number): Uint8Array | AiomsgError {
  let payload: Uint8Array;
  if (typeof data === "string") payload = Buffer.from(data, "utf8");
  else if (data instanceof Uint8Array) payload = data;
  else return new UsageError("ERR_AIOMSG_INVALID_OPTION", "send() takes a Uint8Array or a string");
  if (payload.length > maxSendSize) {
    return new AiomsgError("ERR_AIOMSG_FRAME_TOO_LARGE", `message of ${payload.length} bytes exceeds maxSendSize ${maxSendSize} (payload bytes); not sent`);
  }
  return payload;
}

/** send()'s `retries`: an integer of 0 or more, on an at-least-once socket only (throws UsageError). */
export function checkRetries(retries: number, reliable: boolean): void {
  if (reliable && Number.isInteger(retries) && retries >= 0) return;
  throw new UsageError(
    "ERR_AIOMSG_INVALID_OPTION",
    !reliable ? 'send() retries needs deliveryGuarantee "at-least-once" (at-most-once never resends)' : `send() retries must be an integer of 0 or more, got ${String(retries)}`,
  );
}
