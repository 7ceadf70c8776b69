/**
 * The send queue and its high-water wait (send-queue.ts) alone: send()'s
 * promise resolves at once under the mark and waits above it until a release
 * brings the socket back to the mark; an abort rejects only its own wait; the
 * three byte counters each count once (a queued at-least-once message is
 * charged by reliability only).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QUEUE_OVERHEAD, SendQueue } from "../../src/send-queue.js";
import { Reliable } from "../../src/reliability.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate"] });
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(mark: number) {
  const writes = { bytes: 0 };
  const unacked = { bytes: 0 };
  return { writes, unacked, q: new SendQueue(mark, writes, unacked) };
}

/** Whether `p` has settled (after microtasks run). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await vi.advanceTimersByTimeAsync(0);
  return done;
}

describe("SendQueue high-water wait", () => {
  it("resolves at once while the socket holds no more than the mark", async () => {
    const { q, writes } = setup(1000);
    writes.bytes = 1000;
    expect(await settled(q.accepted(10, undefined))).toBe(true);
  });

  it("waits above the mark until a release brings the total to the mark, then wakes every waiter", async () => {
    const { q, writes, unacked } = setup(1000);
    writes.bytes = 800;
    unacked.bytes = 300;
    const a = q.accepted(10, undefined);
    const b = q.accepted(10, undefined);
    expect(await settled(a)).toBe(false);
    writes.bytes = 750;
    q.checkRoom(); // 1050: still above
    expect(await settled(a)).toBe(false);
    writes.bytes = 700;
    q.checkRoom(); // 1000: at the mark
    expect(await settled(a)).toBe(true);
    expect(await settled(b)).toBe(true);
  });

  it("an abort rejects that send's wait only (the message stays queued)", async () => {
    const { q, writes } = setup(100);
    q.push(Buffer.alloc(50));
    writes.bytes = 500;
    const ac = new AbortController();
    const mine = q.accepted(50, ac.signal);
    const other = q.accepted(50, undefined);
    ac.abort();
    await expect(mine).rejects.toMatchObject({ code: "ERR_AIOMSG_ABORTED" });
    expect(q.length).toBe(1);
    writes.bytes = 0;
    q.checkRoom();
    expect(await settled(other)).toBe(true);
  });

  it("a producer that never waits lets the event loop turn once per MiB", async () => {
    const { q } = setup(1 << 30);
    const turns: number[] = [];
    for (let i = 1; i <= 32; i++) {
      const p = q.accepted(64 * 1024, undefined);
      if (vi.getTimerCount() > 0) {
        turns.push(i);
        expect(await settled(p)).toBe(true); // runs the pending setImmediate
      }
    }
    expect(turns).toEqual([16, 32]);
  });

  it("charges a queued at-most-once message, not a queued at-least-once one (reliability charges it)", () => {
    const { q, unacked } = setup(1000);
    const entry = new Reliable().init(0, 0, 0, 0, Buffer.alloc(100), undefined, 5);
    unacked.bytes += entry.charge;
    q.push(Buffer.alloc(100));
    q.push(entry);
    expect(q.bytes).toBe(100 + QUEUE_OVERHEAD);
    expect(q.held).toBe(100 + QUEUE_OVERHEAD + entry.charge);
    q.shift();
    q.shift();
    expect(q.bytes).toBe(0);
  });

  it("release() wakes every waiter (close)", async () => {
    const { q, writes } = setup(10);
    writes.bytes = 100;
    const p = q.accepted(1, undefined);
    q.release();
    expect(await settled(p)).toBe(true);
  });
});
