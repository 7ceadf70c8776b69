/**
 * At-least-once delivery: a message's id, its record until it is
 * acknowledged or given up (Reliable), and the policy (Reliability): the
 * window of unacknowledged messages (pending.ts) that an ACK finds by index,
 * one resend timer for every deadline, the retry limit, and the resend of a
 * lost peer's messages at once. Which peer a message goes to is not decided
 * here: the socket routes it (socket-base.ts, with round-robin.ts) and hands
 * it to sendOn(). ACKs this end owes are batched by ack-batcher.ts.
 */
import type { DroppedMessage } from "./socket-types.js";
import { DEBUG, debug, hex } from "./log.js";
import { Fifo } from "./fifo.js";
import { putId } from "./frame-writer.js";
import { COUNTER_MASK, PendingWindow } from "./pending.js";
import type { Peer } from "./peer.js";

/** Accounting charge of an unacknowledged at-least-once message beyond its payload. */
export const RELIABLE_OVERHEAD = 128;
/** Acknowledged records kept for reuse, at most (about 1 MiB of them). */
const POOL_MAX = 8192;
const EMPTY = new Uint8Array(0);

/**
 * An at-least-once message until it is acknowledged or given up. Its id is
 * kept as numbers, not bytes (w0-w2: the 12 random bytes as big-endian
 * words, `key`: the window counter in the last 4), so that a message in
 * flight costs this one object and no Buffer: the frame writer puts its words
 * into the frame (putId), matches() compares an ACK's id where it lies in the
 * read.
 */
export class Reliable {
  resends = 0;
  done = false;
  /** In the socket's send queue (set by Reliability.queued; cleared when it is sent, or taken out settled). */
  inQueue = false;
  peer: Peer | undefined = undefined;
  /** Neighbours among the unacknowledged messages of `peer` (an intrusive list: O(1) in and out, no hashing). */
  prevOnPeer: Reliable | undefined = undefined;
  nextOnPeer: Reliable | undefined = undefined;
  /** Incremented on every (re)scheduling; stale slots in the resend schedule are skipped. */
  seq = 0;
  deadline = 0;
  /** The window counter, the id's last 4 bytes. */
  key = 0;
  w0 = 0;
  w1 = 0;
  w2 = 0;
  payload: Uint8Array = EMPTY;
  identity: Buffer | undefined = undefined;
  /** Resends allowed before it is given up (the socket's maxResends, or send()'s `retries`). */
  maxResends = 0;
  /** What it costs while unacknowledged (charged to the socket, and to the peer it was sent on). */
  charge = 0;

  /** Make it the record of a new message: a new record, or one from Reliability's pool. */
  init(key: number, w0: number, w1: number, w2: number, payload: Uint8Array, identity: Buffer | undefined, maxResends: number): this {
    this.key = key;
    this.w0 = w0;
    this.w1 = w1;
    this.w2 = w2;
    this.payload = payload;
    this.identity = identity;
    this.maxResends = maxResends;
    this.charge = payload.length + RELIABLE_OVERHEAD;
    this.resends = 0;
    this.done = false;
    // Whatever slot of the resend schedule still names a reused record is stale from now on.
    this.seq++;
    return this;
  }

  /** Its 16-byte id (a new Buffer: for logs, tests and tools; the send path writes the words into the frame). */
  get msgId(): Buffer {
    const id = Buffer.allocUnsafe(16);
    putId(id, 0, this);
    return id;
  }

  /** Whether `buf[off..off+16]` is its id. */
  matches(buf: Uint8Array, off: number): boolean {
    return getWord(buf, off) === this.w0 && getWord(buf, off + 4) === this.w1 && getWord(buf, off + 8) === this.w2 && getWord(buf, off + 12) === this.key;
  }
}

/** What Reliability asks of the socket. */
export interface ReliabilityHooks {
  /** Route `entry` again (its deadline passed, or its peer went): ends in sendOn() or queue(). */
  resend(entry: Reliable): void;
  dropped(code: DroppedMessage["code"], payload: Uint8Array, identity: Buffer | undefined): void;
  /** `entry` was settled: its peer (if any) has more room, the socket holds less. */
  settled(peer: Peer | undefined): void;
}

export class Reliability {
  private readonly pending = new PendingWindow<Reliable>();
  /** Bytes charged for unacknowledged messages, queued ones included (counted once, here). */
  bytes = 0;
  /** Messages sent again, for stats(). */
  resends = 0;
  // The resend schedule: entries in deadline order (every deadline is now +
  // interval), with the entry's seq when it was scheduled (two FIFOs in step).
  private readonly due = new Fifo<Reliable>(undefined as unknown as Reliable);
  private readonly dueSeqs = new Fifo<number>(0);
  private timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Peers whose messages ACKs settled since the settled hook last ran: a read
   * carries hundreds of ACKs, and the hook (room may have opened: waiting
   * sends, the queue, drain) runs once for them, after the read, not per ACK.
   */
  private settledPeers: Array<Peer | undefined> = [];
  private settledQueued = false;
  /** The peer last added to settledPeers (most reads carry one peer's ACKs); null for none (undefined is "off any peer"). */
  private lastSettled: Peer | undefined | null = null;
  /**
   * Acknowledged records, reused by create(). A record lives about one
   * window of messages, long enough to survive young collections and be
   * promoted, so a steady stream of them made every scavenge copy the window
   * (measured: 947 KB survived per scavenge, against 70 KB with the pool) and
   * filled the old generation. Only a record nothing else names comes here:
   * acknowledged, and not in the send queue (see recycle). POOL_MAX at most.
   */
  private readonly pool: Reliable[] = [];

  constructor(
    private readonly interval: number,
    private readonly maxResends: number,
    private readonly hooks: ReliabilityHooks,
  ) {}

  /** Unacknowledged messages (queued ones included). */
  get size(): number {
    return this.pending.size;
  }

  /** A new at-least-once message: its id carries its window counter. `retries` overrides maxResends for it. */
  create(payload: Uint8Array, identity: Buffer | undefined, retries?: number): Reliable {
    if (idPoolOff >= ID_POOL_WORDS) refillIdPool();
    const pool = idPool;
    const o = idPoolOff;
    idPoolOff = o + 3;
    // UUIDv4 shape: version 4 in byte 6, the RFC 4122 variant in byte 8.
    const entry = (this.pool.pop() ?? new Reliable()).init(
      this.pending.nextCounter,
      pool[o]!,
      (pool[o + 1]! & ~0xf000) | 0x4000,
      (pool[o + 2]! & 0x3fffffff) | -0x80000000,
      payload,
      identity,
      retries ?? this.maxResends,
    );
    this.pending.add(entry);
    // Counted against the high-water mark, so a fast producer waits for
    // acknowledgements instead of growing memory.
    this.bytes += entry.charge;
    return entry;
  }

  /**
   * Send (or resend) `entry` on `peer` and arm its deadline (`now` plus the
   * resend interval; a caller sending many at once reads the clock once);
   * with no peer (the addressed one is absent or full) it is only scheduled,
   * and tried again at the deadline.
   */
  sendOn(entry: Reliable, peer: Peer | undefined, now = performance.now()): void {
    entry.inQueue = false;
    detachFrom(entry);
    if (peer !== undefined) {
      attachTo(entry, peer);
      peer.writeRequest(entry, entry.payload);
    }
    entry.deadline = now + this.interval;
    this.due.push(entry);
    this.dueSeqs.push(++entry.seq);
    if (this.timer === undefined) this.arm(this.interval);
  }

  /** `entry` waits in the socket's send queue: off any peer, its resend slot void meanwhile. */
  queued(entry: Reliable): void {
    detachFrom(entry);
    entry.seq++;
    entry.inQueue = true;
  }

  /** A settled record that nothing names any more (acknowledged off the queue, or taken out of it) goes to the pool. */
  recycle(entry: Reliable): void {
    entry.inQueue = false;
    if (entry.done && this.pool.length < POOL_MAX) {
      entry.payload = EMPTY;
      entry.identity = undefined;
      this.pool.push(entry);
    }
  }

  /**
   * An ACK arrived for the id at `buf[off..off+16]`: settle its message (an
   * unknown or stale id is ignored). Its charges are released at once; the
   * settled hook follows in a microtask, once for every ACK of the read.
   */
  acked(buf: Uint8Array, off = 0): void {
    if (buf.length - off < 16) return;
    const entry = this.pending.get(getWord(buf, off + 12) & COUNTER_MASK);
    if (entry === undefined || !entry.matches(buf, off)) return;
    const peer = entry.peer;
    this.release(entry);
    if (!entry.inQueue) this.recycle(entry);
    if (peer !== this.lastSettled) {
      this.lastSettled = peer;
      if (!this.settledPeers.includes(peer)) this.settledPeers.push(peer);
    }
    if (!this.settledQueued) {
      this.settledQueued = true;
      queueMicrotask(this.flushSettled);
    }
  }

  /**
   * `peer` is gone: its unacknowledged messages go out again now rather than
   * at their deadline (work in proportion to this peer's own messages), or,
   * when the socket is closing, only leave it.
   */
  peerLost(peer: Peer, closing: boolean): void {
    if (peer.unackedCount === 0) return;
    for (const entry of unackedOn(peer)) {
      if (closing) detachFrom(entry);
      else {
        this.resends++;
        this.hooks.resend(entry);
      }
    }
  }

  /** close(): stop the timer and give up every message (reported ERR_AIOMSG_CLOSE_LINGER). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const entry of [...this.pending.values()]) {
      this.settle(entry);
      this.hooks.dropped("ERR_AIOMSG_CLOSE_LINGER", entry.payload, entry.identity);
    }
  }

  /** Given up: release its charges and tell the socket. */
  private settle(entry: Reliable): void {
    const peer = entry.peer;
    this.release(entry);
    this.hooks.settled(peer);
  }

  /** Acknowledged or given up: it is done, and its charges are released. */
  private release(entry: Reliable): void {
    entry.done = true;
    this.pending.delete(entry.key);
    this.bytes -= entry.charge;
    detachFrom(entry);
  }

  private readonly flushSettled = (): void => {
    this.settledQueued = false;
    // Acknowledged entries at the head of the schedule go now, not at their deadline.
    for (let e = this.due.peek(); e !== undefined && (e.done || this.dueSeqs.peek() !== e.seq); e = this.due.peek()) this.popDue();
    const list = this.settledPeers;
    this.settledPeers = [];
    this.lastSettled = null;
    for (const peer of list) this.hooks.settled(peer);
  };

  private arm(ms: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(ms)));
    this.timer.unref?.();
  }

  private popDue(): void {
    this.due.shift();
    this.dueSeqs.shift();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (let entry = this.due.peek(); entry !== undefined; entry = this.due.peek()) {
      if (entry.done || this.dueSeqs.peek() !== entry.seq) {
        this.popDue();
        continue;
      }
      if (entry.deadline > now) {
        this.arm(entry.deadline - now);
        break;
      }
      this.popDue();
      if (entry.resends >= entry.maxResends) {
        this.settle(entry);
        if (DEBUG) debug("message %s unacknowledged after %d resends: dropped", hex(entry.msgId), entry.resends);
        this.hooks.dropped("ERR_AIOMSG_RETRIES_EXHAUSTED", entry.payload, entry.identity);
        continue;
      }
      entry.resends++;
      this.resends++;
      this.hooks.resend(entry);
    }
  };
}

// Message ids are UUIDv4-shaped: 12 random bytes (three words of a pool filled
// by one getRandomValues per 4096 ids), then the 30-bit counter of the
// PendingWindow in the last 4 bytes, so that an ACK finds its message by
// index. Peers only echo ids back, so their layout is this end's business.
const ID_POOL_WORDS = 3 * 4096;
const idPool = new Int32Array(ID_POOL_WORDS);
let idPoolOff = ID_POOL_WORDS;

function refillIdPool(): void {
  globalThis.crypto.getRandomValues(idPool);
  idPoolOff = 0;
}

/** A big-endian 32-bit word as a signed int (what Reliable keeps). */
function getWord(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/** Charge `entry` to the peer it is sent on. */
function attachTo(entry: Reliable, peer: Peer): void {
  entry.peer = peer;
  const tail = peer.unackedTail as Reliable | undefined;
  entry.prevOnPeer = tail;
  entry.nextOnPeer = undefined;
  if (tail !== undefined) tail.nextOnPeer = entry;
  peer.unackedTail = entry;
  peer.unackedCount++;
  peer.unackedBytes += entry.charge;
}

/** End `entry`'s charge to its peer (acknowledged, given up, or sent elsewhere). */
function detachFrom(entry: Reliable): void {
  const peer = entry.peer;
  if (peer === undefined) return;
  entry.peer = undefined;
  const prev = entry.prevOnPeer;
  const next = entry.nextOnPeer;
  if (prev !== undefined) prev.nextOnPeer = next;
  if (next !== undefined) next.prevOnPeer = prev;
  else peer.unackedTail = prev;
  entry.prevOnPeer = entry.nextOnPeer = undefined;
  peer.unackedCount--;
  peer.unackedBytes -= entry.charge;
}

/** The unacknowledged messages sent on `peer`, oldest first. */
function unackedOn(peer: Peer): Reliable[] {
  const out: Reliable[] = [];
  for (let e = peer.unackedTail as Reliable | undefined; e !== undefined; e = e.prevOnPeer) out.push(e);
  return out.reverse();
}
