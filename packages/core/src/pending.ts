/**
 * Unacknowledged at-least-once messages, keyed by the 30-bit counter carried in
 * their ids. Counters are handed out consecutively, so the set is a sliding
 * window over a ring (fifo.ts): add, find and remove are index operations,
 * which stay fast with a million messages in flight (a Map of that size does
 * not), and allocate nothing once the ring has grown to the window.
 */
import { Fifo } from "./fifo.js";

export const COUNTER_MASK = 0x3fffffff;

export class PendingWindow<T> {
  /** The window from its oldest unacknowledged message, holes (acknowledged ones) as undefined. */
  private readonly slots = new Fifo<T | undefined>(undefined);
  /** Counter of the slot at the head. */
  private base = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The counter the next add() must use. */
  get nextCounter(): number {
    return (this.base + this.slots.length) & COUNTER_MASK;
  }

  add(value: T): number {
    const counter = this.nextCounter;
    this.slots.push(value);
    this.count++;
    return counter;
  }

  get(counter: number): T | undefined {
    return this.slots.at((counter - this.base) & COUNTER_MASK);
  }

  delete(counter: number): void {
    const i = (counter - this.base) & COUNTER_MASK;
    if (this.slots.at(i) === undefined) return;
    this.slots.set(i, undefined);
    this.count--;
    // Slide past the acknowledged prefix.
    while (this.slots.length > 0 && this.slots.peek() === undefined) {
      this.slots.shift();
      this.base = (this.base + 1) & COUNTER_MASK;
    }
  }

  *values(): IterableIterator<T> {
    for (const v of this.slots) if (v !== undefined) yield v;
  }
}
