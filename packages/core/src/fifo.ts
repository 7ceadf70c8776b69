/**
 * The one FIFO of the library: an array read from a moving head. Taking from
 * the head is O(1); the array is reset when it empties and compacted once
 * the taken prefix is at least COMPACT_AT slots and half the array, so a
 * queue that never empties (a steady backlog) stays proportional to what it
 * holds. Used by the send queue, the resend schedule, each peer's inbox and
 * the waiters of every wait (wait.ts).
 */

/** Taken slots before the array is compacted (amortised: a splice per this many shifts at least). */
const COMPACT_AT = 4096;

export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  /**
   * `filler` overwrites taken slots, so that the array drops its reference
   * and keeps one element kind (0 for numbers, a shared empty Buffer for
   * Buffers, undefined for objects).
   */
  constructor(private readonly filler: T) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(value: T): void {
    this.items.push(value);
  }

  /** The oldest item (undefined when empty). */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** The newest item (undefined when empty). */
  last(): T | undefined {
    return this.head < this.items.length ? this.items[this.items.length - 1] : undefined;
  }

  /** Replace the newest item (the FIFO must not be empty). */
  setLast(value: T): void {
    this.items[this.items.length - 1] = value;
  }

  /** The i-th item from the head. */
  at(i: number): T | undefined {
    const j = this.head + i;
    return j < this.items.length ? this.items[j] : undefined;
  }

  /** Remove and return the oldest item (undefined when empty). */
  shift(): T | undefined {
    const items = this.items;
    const h = this.head;
    if (h >= items.length) return undefined;
    const value = items[h]!;
    items[h] = this.filler;
    this.head = h + 1;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= items.length) {
      items.splice(0, this.head);
      this.head = 0;
    }
    return value;
  }

  /** Remove one item wherever it is (an aborted waiter): O(n), off the hot path. */
  remove(value: T): boolean {
    const i = this.items.indexOf(value, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return true;
  }

  /** Empty the FIFO, returning what it held, oldest first. */
  drain(): T[] {
    const out = this.head === 0 ? this.items : this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }

  /** The items, oldest first, without removing them. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}
