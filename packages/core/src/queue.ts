/**
 * The receive side's buffer: one merged stream of (identity, payload) from
 * every connection. When data is already queued, readers get it without
 * parking; otherwise they wait in FIFO order.
 */
import { AiomsgError } from "./errors.js";

type Waiter = {
  deliver(identity: Buffer, payload: Buffer): void;
  fail(err: Error | undefined): void;
};

export class ReceiveQueue {
  private ids: Buffer[] = [];
  private payloads: Buffer[] = [];
  private head = 0;
  private waiters: Waiter[] = [];
  private ended = false;
  /** What the waiting messages hold: see chargeOf(). */
  bytes = 0;

  constructor(private readonly onDrained: () => void) {}

  get length(): number {
    return this.payloads.length - this.head;
  }

  get closed(): boolean {
    return this.ended;
  }

  push(identity: Buffer, payload: Buffer): void {
    if (this.ended) return;
    const w = this.waiters.length > 0 ? this.waiters.shift() : undefined;
    if (w !== undefined) {
      w.deliver(identity, payload);
      return;
    }
    this.ids.push(identity);
    this.payloads.push(payload);
    this.bytes += chargeOf(payload);
  }

  // Set by take(): the item just removed (avoids a tuple per message).
  private outId: Buffer = EMPTY;
  private outPayload: Buffer = EMPTY;

  /** Remove the oldest item into outId/outPayload; false if nothing is queued. */
  private take(): boolean {
    const h = this.head;
    if (h >= this.payloads.length) return false;
    this.outId = this.ids[h]!;
    const payload = (this.outPayload = this.payloads[h]!);
    this.ids[h] = EMPTY;
    this.payloads[h] = EMPTY;
    this.head = h + 1;
    if (this.head === this.payloads.length) {
      this.ids.length = 0;
      this.payloads.length = 0;
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.payloads.length) {
      this.ids.splice(0, this.head);
      this.payloads.splice(0, this.head);
      this.head = 0;
    }
    this.bytes -= chargeOf(payload);
    this.onDrained();
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

/** Heap cost of one queued message beyond its payload (a Buffer object and two slots; measured about 115 B). */
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

function closedError(): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
}

function abortError(signal: AbortSignal): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_ABORTED", "the operation was aborted", { cause: signal.reason });
}
