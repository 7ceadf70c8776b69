/**
 * ACK batching (ack-batcher.ts) alone, on fake timers: one timer per batch,
 * ACKs queued at ackDelay on their own peer, none for a closed peer, none
 * beyond a peer's room for control frames, and flush() for close().
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ACK_BATCH, AckBatcher } from "../../src/ack-batcher.js";
import { Room } from "../../src/room.js";
import { fakePeer } from "./fakes.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A 16-byte message id (the size every wire uses). */
const id = (n: number) => Buffer.alloc(16, n);

describe("AckBatcher", () => {
  it("queues every ACK owed at ackDelay after the first, with one timer for the batch", () => {
    const acks = new AckBatcher(20, new Room(1000, 10), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    acks.push(a, id(1));
    vi.advanceTimersByTime(10);
    acks.push(a, id(2));
    acks.push(a, id(3));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(9);
    expect(a.fake.acks).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(a.fake.acks).toEqual([id(1), id(2), id(3)]);
    expect(acks.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a later ACK starts a new batch with its own deadline", () => {
    const acks = new AckBatcher(20, new Room(1000, 10), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    acks.push(a, id(1));
    vi.advanceTimersByTime(20);
    acks.push(a, id(2));
    vi.advanceTimersByTime(19);
    expect(a.fake.acks).toEqual([id(1)]);
    vi.advanceTimersByTime(1);
    expect(a.fake.acks).toEqual([id(1), id(2)]);
  });

  it("each ACK goes to the peer its request came from", () => {
    const acks = new AckBatcher(5, new Room(1000, 10), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    const b = fakePeer("b");
    acks.push(a, id(1));
    acks.push(b, id(2));
    acks.push(a, id(3));
    vi.advanceTimersByTime(5);
    expect(a.fake.acks).toEqual([id(1), id(3)]);
    expect(b.fake.acks).toEqual([id(2)]);
  });

  it("skips a peer that closed meanwhile and one whose writes are full; its unacknowledged messages do not count", () => {
    const acks = new AckBatcher(5, new Room(1000, 10), { bytes: 0, batching: 0 });
    const gone = fakePeer("gone");
    const full = fakePeer("full");
    const busy = fakePeer("busy");
    acks.push(gone, id(1));
    acks.push(full, id(2));
    acks.push(busy, id(3));
    gone.fake.isOpen = false;
    full.fake.queuedFrames = 10;
    busy.unackedCount = 1000; // our messages it has not acknowledged: no reason to withhold its ACK
    vi.advanceTimersByTime(5);
    expect([gone.fake.acks.length, full.fake.acks.length, busy.fake.acks.length]).toEqual([0, 0, 1]);
  });

  it("a peer with room for only some of its ACKs gets those that fit below its mark, each admitted as if alone", () => {
    // v1 ACK frames are 4 + 1 + 16 = 21 bytes: queued at 0, 21, 42, 63 and 84 bytes, below 100; not at 105.
    const acks = new AckBatcher(5, new Room(100, 1e6), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    for (let i = 0; i < 8; i++) acks.push(a, id(i));
    vi.advanceTimersByTime(5);
    expect(a.fake.acks).toEqual([0, 1, 2, 3, 4].map(id));
  });

  it("flush() queues what is owed at once and disarms the timer (close)", () => {
    const acks = new AckBatcher(1000, new Room(1000, 10), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    acks.push(a, id(7));
    acks.flush();
    expect(a.fake.acks).toEqual([id(7)]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps a copy of each id owed, read at its offset, so the read it came in may be reused; a batch of any size", () => {
    const acks = new AckBatcher(5, new Room(1e9, 1e6), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    const read = Buffer.alloc(1 + 16 * 200);
    for (let i = 0; i < 200; i++) read.fill(i, 1 + 16 * i, 17 + 16 * i);
    for (let i = 0; i < 200; i++) acks.push(a, read, 1 + 16 * i);
    read.fill(0xff);
    vi.advanceTimersByTime(5);
    expect(a.fake.acks).toEqual(Array.from({ length: 200 }, (_, i) => id(i)));
  });

  it("queues a full batch (ACK_BATCH owed) at once, without waiting for ackDelay, and disarms the timer", () => {
    const acks = new AckBatcher(20, new Room(1e9, 1e6), { bytes: 0, batching: 0 });
    const a = fakePeer("a");
    for (let i = 0; i < ACK_BATCH - 1; i++) acks.push(a, id(i & 0xff));
    expect(a.fake.acks.length).toBe(0);
    acks.push(a, id(1));
    expect(a.fake.acks.length).toBe(ACK_BATCH);
    expect(acks.length).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
