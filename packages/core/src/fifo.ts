/**
 * The one FIFO of the library: a ring buffer (an array whose length is a
 * power of two, read from a moving head), so that adding at the tail and
 * taking from the head are O(1) and allocate nothing once it has grown to
 * its backlog. It doubles when full, and halves once it has held less than
 * an eighth of a capacity above SHRINK_ABOVE for a whole capacity of items
 * taken, so its memory stays proportional to what it holds, and a backlog
 * that swings (a send queue refilled in bursts) does not resize it back and
 * forth: each halving is paid for by as many operations as it copies. Used
 * by the send queue, the resend schedule, each peer's inbox, the waiters of
 * every wait (wait.ts) and, with holes, the window of unacknowledged
 * messages (pending.ts).
 */

const SHRINK_ABOVE = 1024;

export class Fifo<T> {
  /** The ring: its length (0 or a power of two) is its capacity. */
  private items: T[] = [];
  private head = 0;
  private size = 0;
  /** Items taken while it held less than an eighth of its capacity, since the last resize. */
  private taken = 0;

  /**
   * `filler` overwrites taken slots, so that the array drops its reference
   * and keeps one element kind (0 for numbers, a shared empty Buffer for
   * Buffers, undefined for objects).
   */
  constructor(private readonly filler: T) {}

  get length(): number {
    return this.size;
  }

  push(value: T): void {
    if (this.size === this.items.length) this.resize(this.size * 2 || 8);
    this.items[(this.head + this.size++) & (this.items.length - 1)] = value;
  }

  /** The oldest item (undefined when empty). */
  peek(): T | undefined {
    return this.size > 0 ? this.items[this.head] : undefined;
  }

  /** The newest item (undefined when empty). */
  last(): T | undefined {
    return this.at(this.size - 1);
  }

  /** Replace the i-th item from the head (which must be there). */
  set(i: number, value: T): void {
    this.items[(this.head + i) & (this.items.length - 1)] = value;
  }

  /** The i-th item from the head. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.size ? this.items[(this.head + i) & (this.items.length - 1)] : undefined;
  }

  /** Remove and return the oldest item (undefined when empty). */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const items = this.items;
    const value = items[this.head]!;
    items[this.head] = this.filler;
    this.head = (this.head + 1) & (items.length - 1);
    if (--this.size * 8 < items.length && items.length > SHRINK_ABOVE && ++this.taken > items.length) this.resize(items.length / 2);
    return value;
  }

  /** Remove one item wherever it is (an aborted waiter): O(n), off the hot path. */
  remove(value: T): boolean {
    const all = [...this];
    const i = all.indexOf(value);
    if (i < 0) return false;
    all.splice(i, 1);
    this.drain();
    for (const v of all) this.push(v);
    return true;
  }

  /** Empty the FIFO, returning what it held, oldest first. */
  drain(): T[] {
    const out = [...this];
    this.size = 0;
    this.resize(0);
    return out;
  }

  /** The items, oldest first, without removing them. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.size; i++) yield this.at(i)!;
  }

  /** A ring of `capacity` (a power of two, or 0 once emptied) holding the items from index 0. */
  private resize(capacity: number): void {
    const next: T[] = [];
    for (let i = 0; i < capacity; i++) next.push(i < this.size ? this.at(i)! : this.filler);
    this.items = next;
    this.head = 0;
    this.taken = 0;
  }
}
