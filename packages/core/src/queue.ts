/**
 * The receive side's buffer: one merged stream of (identity, payload) from
 * every connection, fair-queued. Each peer has its own FIFO; readers take from
 * the peers in turn (as ZeroMQ fair-queues its pipes), so a peer that floods
 * cannot put its backlog in front of everyone else's messages. When data is
 * already queued, readers get it without parking; otherwise they wait in
 * FIFO order.
 */
import { AiomsgError } from "./errors.js";

type Waiter = {
  deliver(identity: Buffer, payload: Buffer): void;
  fail(err: Error | undefined): void;
};

/** One peer's unread messages. */
export class PeerInbox<Source = unknown> {
  payloads: Buffer[] = [];
  /** Reading from this peer is paused because it holds more than its share. */
  paused = false;
  head = 0;
  /** What its messages hold: see chargeOf(). */
  bytes = 0;
  /** In the reading ring of its queue. */
  active = false;
  constructor(
    readonly identity: Buffer,
    readonly source: Source,
  ) {}

  get length(): number {
    return this.payloads.length - this.head;
  }
}

export class ReceiveQueue {
  /** Peers with unread messages, read in turn from `turn`. */
  private ring: PeerInbox[] = [];
  private turn = 0;
  private waiters: Waiter[] = [];
  private ended = false;
  /** What all waiting messages hold: see chargeOf(). */
  bytes = 0;
  /** Messages waiting, all peers together. */
  length = 0;

  /** `onTaken(from)` runs after each message a reader takes. */
  constructor(private readonly onTaken: (from: PeerInbox<any>) => void) {}

  get closed(): boolean {
    return this.ended;
  }

  push(from: PeerInbox, payload: Buffer): void {
    if (this.ended) return;
    if (this.waiters.length > 0) {
      this.waiters.shift()!.deliver(from.identity, payload);
      return;
    }
    from.payloads.push(payload);
    const c = chargeOf(payload);
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
    const h = from.head;
    const payload = (this.outPayload = from.payloads[h]!);
    this.outId = from.identity;
    from.payloads[h] = EMPTY;
    from.head = h + 1;
    if (from.head === from.payloads.length) {
      from.payloads.length = 0;
      from.head = 0;
      from.active = false;
      ring.splice(this.turn, 1); // the next peer moves into this slot
    } else {
      if (from.head >= 4096 && from.head * 2 >= from.payloads.length) {
        from.payloads.splice(0, from.head);
        from.head = 0;
      }
      this.turn++;
    }
    const c = chargeOf(payload);
    from.bytes -= c;
    this.bytes -= c;
    this.length--;
    this.onTaken(from);
    return true;
  }

  /** Resolve with the next (identity, payload); rejects once the socket is closed. */
  next<T>(map: (identity: Buffer, payload: Buffer) => T, signal?: AbortSignal): Promise<T> {
    if (this.take()) return Promise.resolve(map(this.outId, this.outPayload));
    return this.wait(map, signal);
  }

  private wait<T>(map: (identity: Buffer, payload: Buffer) => T, signal?: AbortSignal): Promise<T> {
    if (this.ended) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      const w: Waiter = {
        deliver: (id, p) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(map(id, p));
        },
        fail: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err ?? closedError());
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
    });
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
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.fail(undefined);
  }
}

const EMPTY = Buffer.alloc(0);

function closedError(): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
}

function abortError(signal: AbortSignal): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_ABORTED", "the operation was aborted", { cause: signal.reason });
}

/** Heap cost of one queued message beyond its payload (a Buffer object and an array slot; measured about 115 B). */
export const MESSAGE_OVERHEAD = 128;

/**
 * What a queued payload keeps alive: its bytes, or the whole buffer under it
 * when it is a view of at least half of one, plus the per-message overhead.
 * Views of less than half a buffer are not queued (see retain()).
 */
export function chargeOf(payload: Buffer): number {
  const under = payload.buffer.byteLength;
  return (payload.length * 2 >= under ? under : payload.length) + MESSAGE_OVERHEAD;
}

/**
 * The payload to queue: a view when it covers at least half of the buffer
 * under it, else a copy (from Node's pool for small ones), so that a peer
 * cannot pin a 64 KiB read with a 1-byte message. Empty payloads share one
 * empty buffer.
 */
export function retain(payload: Buffer): Buffer {
  if (payload.length === 0) return EMPTY;
  if (payload.length * 2 >= payload.buffer.byteLength) return payload;
  return Buffer.from(payload);
}
