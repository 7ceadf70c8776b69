/**
 * The receive side's buffer: one merged stream of (identity, payload) from
 * every connection, fair-queued. Each peer has its own FIFO; readers take from
 * the peers in turn (as ZeroMQ fair-queues its pipes), so a peer that floods
 * cannot put its backlog in front of everyone else's messages. When data is
 * already queued, readers get it without parking; otherwise they wait in
 * FIFO order.
 */
import { AiomsgError } from "./errors.js";
import { Fifo } from "./fifo.js";
import { WaitList } from "./wait.js";

/** Shared by every empty payload, so that none keeps its read alive. */
export const EMPTY = Buffer.alloc(0);

/** A read charged to a peer's inbox: see PeerInbox.carriers. */
interface Carrier {
  /** Sequence number of the newest queued payload from the read. */
  seq: number;
  /** The read's size (what keeping any payload from it keeps alive). */
  readonly bytes: number;
}
const NO_CARRIER: Carrier = { seq: -1, bytes: 0 };

/** How a reader wants a message: the payload, or [identity, payload]. */
type MapMessage = (identity: Buffer, payload: Buffer) => unknown;

/** One peer's unread messages. */
export class PeerInbox<Source = unknown> {
  readonly payloads = new Fifo<Buffer>(EMPTY);
  /** Payloads queued and taken so far: sequence numbers for the read charges below. */
  pushed = 0;
  taken = 0;
  /**
   * Reads charged to this peer, oldest first: the sequence number of the
   * newest queued payload from each read (it carries the read's charge), and
   * the read's bytes. One record per read, not per message; every FIFO holds
   * objects, so the FIFO's code sees one element kind (a FIFO of numbers
   * beside FIFOs of objects made its methods polymorphic: measured 10-20 %
   * of a small message's cost).
   */
  readonly carriers = new Fifo<Carrier>(NO_CARRIER);
  /** Reading from this peer is paused because it holds more than its share. */
  paused = false;
  /** What its messages hold: see push(). */
  bytes = 0;
  /** In the reading ring of its queue. */
  active = false;
  /** The memory of the read the newest queued payload came in (its charge is carried by that payload). */
  lastSource: ArrayBufferLike | undefined;
  constructor(
    readonly identity: Buffer,
    readonly source: Source,
  ) {}

  get length(): number {
    return this.payloads.length;
  }
}

export class ReceiveQueue {
  /** Peers with unread messages, read in turn from `turn`. */
  private ring: PeerInbox[] = [];
  private turn = 0;
  private readonly waiters = new WaitList<unknown, MapMessage>();
  private ended = false;
  /** What all waiting messages hold: see push(). */
  bytes = 0;
  /** Messages waiting, all peers together. */
  length = 0;
  /** Set by the owner while reading from every peer is paused (onTaken must then run). */
  readingPaused = false;

  /** `onTaken(from)` runs after a reader takes a message from a paused peer, or while all reading is paused. */
  constructor(private readonly onTaken: (from: PeerInbox<any>) => void) {}

  /** Peers with unread messages. */
  get backlogged(): number {
    return this.ring.length;
  }

  /**
   * Queue a payload, or hand it to a waiting reader. A queued payload is
   * charged MESSAGE_OVERHEAD, and the buffer it is a view of (the read it
   * arrived in) is charged once, with the first queued payload from it: so
   * the queue's figure is what it really keeps alive, however the peer packs
   * its reads (a 1-byte message per 64 KiB read costs 64 KiB).
   */
  push(from: PeerInbox, payload: Buffer, source: Buffer = payload): void {
    if (this.ended) return;
    if (this.waiters.length > 0) {
      const w = this.waiters.take()!;
      w.resolve(w.data(from.identity, payload));
      return;
    }
    let c = MESSAGE_OVERHEAD;
    // The memory of `source` (the read the payload came in) is compared by
    // identity: a cheap test per message, and one charge for consecutive
    // reads into one slab (transports/stream.ts). The newest payload from it
    // carries the charge (FIFO: when it is taken, the memory is free).
    if (payload.length > 0) {
      const block = source.buffer;
      const last = block === from.lastSource ? from.carriers.last() : undefined;
      if (last !== undefined) {
        last.seq = from.pushed;
      } else {
        from.lastSource = block;
        const bytes = payload.buffer.byteLength;
        from.carriers.push({ seq: from.pushed, bytes });
        c += bytes;
      }
    }
    from.pushed++;
    from.payloads.push(payload);
    from.bytes += c;
    this.bytes += c;
    this.length++;
    if (!from.active) {
      from.active = true;
      this.ring.push(from);
    }
  }

  // Set by take(): the item just removed (avoids a tuple per message).
  private outId: Buffer = EMPTY;
  private outPayload: Buffer = EMPTY;

  /** Remove the next message in turn into outId/outPayload; false if nothing is queued. */
  private take(): boolean {
    const ring = this.ring;
    if (ring.length === 0) return false;
    if (this.turn >= ring.length) this.turn = 0;
    const from = ring[this.turn]!;
    this.outPayload = from.payloads.shift()!;
    this.outId = from.identity;
    let c = MESSAGE_OVERHEAD;
    const seq = from.taken++;
    const carrier = from.carriers.peek();
    if (carrier !== undefined && carrier.seq === seq) {
      // The last payload from its read: the read is released.
      from.carriers.shift();
      c += carrier.bytes;
      if (from.carriers.length === 0) from.lastSource = undefined;
    }
    if (from.payloads.length === 0) {
      from.active = false;
      ring.splice(this.turn, 1); // the next peer moves into this slot
    } else {
      this.turn++;
    }
    from.bytes -= c;
    this.bytes -= c;
    this.length--;
    // Only a paused reader has anything to do when a message is taken.
    if (from.paused || this.readingPaused) this.onTaken(from);
    return true;
  }

  /** Resolve with the next (identity, payload); rejects once the socket is closed. */
  next<T>(map: (identity: Buffer, payload: Buffer) => T, signal?: AbortSignal): Promise<T> {
    if (this.take()) return Promise.resolve(map(this.outId, this.outPayload));
    return this.wait(map, signal);
  }

  private wait<T>(map: (identity: Buffer, payload: Buffer) => T, signal?: AbortSignal): Promise<T> {
    if (this.ended) return Promise.reject(closedError());
    return this.waiters.wait(signal, "the operation was aborted", map) as Promise<T>;
  }

  /** An async iterator that ends (done) when the socket closes. */
  iterate<T>(map: (identity: Buffer, payload: Buffer) => T, signal?: AbortSignal): AsyncIterableIterator<T> {
    let finished = false;
    const done: IteratorResult<T> = { value: undefined, done: true };
    const wrap = (value: T): IteratorResult<T> => ({ value, done: false });
    const stop = (err: unknown): IteratorResult<T> => {
      finished = true;
      if (err instanceof AiomsgError && err.code === "ERR_AIOMSG_SOCKET_CLOSED") return done;
      throw err;
    };
    const it: AsyncIterableIterator<T> = {
      next: () => {
        if (finished) return Promise.resolve(done);
        if (this.take()) return Promise.resolve({ value: map(this.outId, this.outPayload), done: false });
        return this.wait(map, signal).then(wrap, stop);
      },
      return: () => {
        finished = true;
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  /** No more items will come: wake every waiter. Queued items stay readable. */
  end(): void {
    this.ended = true;
    this.waiters.failAll(closedError());
  }
}

function closedError(): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
}

/** Heap cost of one queued message beyond its payload (a Buffer object and an array slot; measured about 115 B). */
export const MESSAGE_OVERHEAD = 128;
