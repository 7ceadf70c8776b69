/**
 * The send queue and its high-water wait. Messages wait here, in send order,
 * while no peer is admitted or every peer is full (round-robin), and go to
 * peers as room opens (the socket drains it). send() resolves at once while
 * what the socket holds is under highWaterMark and otherwise waits here
 * until it is; a producer that never has to wait still lets the event loop
 * turn every YIELD_BYTES, so heartbeats and ACKs are read.
 *
 * What the socket holds is three counters, one per purpose, each counted
 * once: queued at-most-once messages (here), unacknowledged at-least-once
 * messages, queued ones included (reliability.ts), and frames written and not
 * yet taken by the kernel (the connections' WriteMeter).
 */
import { Buffer } from "node:buffer";
import type { Reliable } from "./reliability.js";
import { Fifo } from "./fifo.js";
import { WaitList } from "./wait.js";

export type Outgoing = Uint8Array | Reliable;

/** A byte counter shared with whoever feeds it. */
export interface Meter {
  bytes: number;
}

/** Accounting charge of an at-most-once message waiting in the queue beyond its payload. */
export const QUEUE_OVERHEAD = 32;
/** send() lets the event loop turn at least once per this many bytes. */
const YIELD_BYTES = 1 << 20;
const RESOLVED: Promise<void> = Promise.resolve();

export class SendQueue {
  private readonly items = new Fifo<Outgoing>(undefined as unknown as Outgoing);
  /** Queued at-most-once messages' charge (at-least-once ones are charged by reliability). */
  bytes = 0;
  private readonly roomWaiters = new WaitList<void>();
  /** Bytes sent since send() last let the event loop turn. */
  private spinBytes = 0;
  private turn: Promise<void> | undefined;

  constructor(
    private readonly highWaterMark: number,
    /** Frames written and not yet taken by the kernel. */
    private readonly writes: Meter,
    /** Unacknowledged at-least-once messages. */
    private readonly unacked: Meter,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Everything the socket holds for sending: queued, unwritten and unacknowledged bytes. */
  get held(): number {
    return this.writes.bytes + this.bytes + this.unacked.bytes;
  }

  push(item: Outgoing): void {
    this.items.push(item);
    if (item instanceof Uint8Array) this.bytes += item.length + QUEUE_OVERHEAD;
  }

  peek(): Outgoing | undefined {
    return this.items.peek();
  }

  shift(): Outgoing | undefined {
    const item = this.items.shift();
    if (item instanceof Uint8Array) this.bytes -= item.length + QUEUE_OVERHEAD;
    return item;
  }

  /** close(): everything still queued, oldest first, and the queue empty. */
  drain(): Outgoing[] {
    this.bytes = 0;
    return this.items.drain();
  }

  /** What send() returns once its message is accepted: wait above the mark, else yield now and then. */
  accepted(bytes: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.held > this.highWaterMark) {
      return this.roomWaiters.wait(signal, "send aborted while waiting below the high-water mark (the message stays queued)", undefined);
    }
    // A producer that never has to wait would never let the event loop read
    // its sockets (heartbeats, ACKs): every YIELD_BYTES it waits for one turn.
    this.spinBytes += bytes;
    if (this.spinBytes < YIELD_BYTES) return RESOLVED;
    return (this.turn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.spinBytes = 0;
        this.turn = undefined;
        resolve();
      }),
    ));
  }

  /** Something was released: wake the sends waiting for room once the socket is at or under the mark. */
  checkRoom(): void {
    if (this.roomWaiters.length === 0 || this.held > this.highWaterMark) return;
    this.roomWaiters.wakeAll();
  }

  /** close(): nobody waits for room any more. */
  release(): void {
    this.roomWaiters.wakeAll();
  }
}
