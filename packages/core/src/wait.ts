/**
 * The one abortable wait: callers park in a WaitList in FIFO order until the
 * owner wakes them (all at once, or the oldest one at a time), and an
 * AbortSignal takes a waiter out of the list and rejects it with
 * ERR_AIOMSG_ABORTED. Used by recv() (a message), send() above the
 * high-water mark (room), a send by identity to a full peer (that peer's
 * room), close()'s linger and the redial backoff (timeouts woken early).
 */
import { AiomsgError } from "./errors.js";
import { Fifo } from "./fifo.js";

/** One parked caller; `data` is the owner's (a payload to write, a function to map a message). */
export class Waiter<T, D = undefined> {
  onAbort: (() => void) | undefined = undefined;
  constructor(
    readonly resolve: (value: T) => void,
    readonly reject: (err: unknown) => void,
    readonly signal: AbortSignal | undefined,
    readonly data: D,
  ) {}

  /** Stop listening to the signal (the waiter is leaving the list). */
  detach(): void {
    if (this.onAbort !== undefined) this.signal!.removeEventListener("abort", this.onAbort);
  }
}

export class WaitList<T, D = undefined> {
  private readonly list = new Fifo<Waiter<T, D>>(undefined as unknown as Waiter<T, D>);

  get length(): number {
    return this.list.length;
  }

  /**
   * Park until woken. An abort (already, or while waiting) rejects with
   * ERR_AIOMSG_ABORTED and `abortMessage`, and the waiter leaves the list.
   */
  wait(signal: AbortSignal | undefined, abortMessage: string, data: D): Promise<T> {
    if (signal?.aborted) return Promise.reject(aborted(signal, abortMessage));
    return new Promise<T>((resolve, reject) => {
      const w = new Waiter<T, D>(resolve, reject, signal, data);
      if (signal !== undefined) {
        w.onAbort = () => {
          if (this.list.remove(w)) reject(aborted(signal, abortMessage));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.list.push(w);
    });
  }

  /** Park for at most `ms` (not abortable): resolved with `value` by the timer or earlier by a wake. */
  sleep(ms: number, value: T, data: D): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.list.remove(w)) resolve(value);
      }, ms);
      const w = new Waiter<T, D>(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject,
        undefined,
        data,
      );
      this.list.push(w);
    });
  }

  /** The oldest waiter, still parked (undefined when none). */
  peek(): Waiter<T, D> | undefined {
    return this.list.peek();
  }

  /** Take the oldest waiter out of the list, no longer abortable; the caller settles it. */
  take(): Waiter<T, D> | undefined {
    const w = this.list.shift();
    w?.detach();
    return w;
  }

  /** Resolve every waiter with `value`, oldest first. */
  wakeAll(value: T): void {
    if (this.list.length === 0) return;
    for (const w of this.list.drain()) {
      w.detach();
      w.resolve(value);
    }
  }

  /** Reject every waiter with `err`, oldest first. */
  failAll(err: unknown): void {
    if (this.list.length === 0) return;
    for (const w of this.list.drain()) {
      w.detach();
      w.reject(err);
    }
  }
}

export function aborted(signal: AbortSignal, message: string): AiomsgError {
  return new AiomsgError("ERR_AIOMSG_ABORTED", message, { cause: signal.reason });
}
