/**
 * Unacknowledged at-least-once messages, keyed by the 30-bit counter carried in
 * their ids. Counters are handed out consecutively, so the set is a sliding
 * window over an array: add, find and remove are index operations, which stay
 * fast with a million messages in flight (a Map of that size does not).
 */
import { compact } from "./fifo.js";

export const COUNTER_MASK = 0x3fffffff;

export class PendingWindow<T> {
  private slots: Array<T | undefined> = [];
  private head = 0;
  /** Counter of slots[head]. */
  private base = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The counter the next add() must use. */
  get nextCounter(): number {
    return (this.base + (this.slots.length - this.head)) & COUNTER_MASK;
  }

  add(value: T): number {
    const counter = this.nextCounter;
    this.slots.push(value);
    this.count++;
    return counter;
  }

  get(counter: number): T | undefined {
    const i = this.head + ((counter - this.base) & COUNTER_MASK);
    return i < this.slots.length ? this.slots[i] : undefined;
  }

  delete(counter: number): void {
    const i = this.head + ((counter - this.base) & COUNTER_MASK);
    if (i >= this.slots.length || this.slots[i] === undefined) return;
    this.slots[i] = undefined;
    this.count--;
    // Slide past the acknowledged prefix.
    while (this.head < this.slots.length && this.slots[this.head] === undefined) {
      this.head++;
      this.base = (this.base + 1) & COUNTER_MASK;
    }
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.slots.length) {
      this.head = compact(this.slots, this.head);
    }
  }

  *values(): IterableIterator<T> {
    for (let i = this.head; i < this.slots.length; i++) {
      const v = this.slots[i];
      if (v !== undefined) yield v;
    }
  }
}
