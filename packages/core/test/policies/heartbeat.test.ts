/**
 * Heartbeat (heartbeat.ts) alone, on fake timers: when it asks for a
 * heartbeat, when it calls a peer silent or a slow consumer, and what pauses
 * and traffic change. Driven through its four hooks, with no connection.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Heartbeat, type HeartbeatHooks } from "../../src/heartbeat.js";

class Hooks implements HeartbeatHooks {
  idles = 0;
  silents = 0;
  stalls = 0;
  /** What writeProgress() returns: -1 (nothing queued) or performance.now() of the last progress. */
  progress = -1;
  idle(): void {
    this.idles++;
  }
  silent(): void {
    this.silents++;
  }
  stalled(): void {
    this.stalls++;
  }
  writeProgress(): number {
    return this.progress;
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Heartbeat", () => {
  it("asks for a heartbeat once per interval while nothing else is sent", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 60_000, 60_000, h);
    hb.start();
    vi.advanceTimersByTime(999);
    expect(h.idles).toBe(0);
    vi.advanceTimersByTime(1);
    expect(h.idles).toBe(1);
    vi.advanceTimersByTime(3000);
    expect(h.idles).toBe(4);
    hb.cancel();
  });

  it("sends no heartbeat while other frames go out within the interval", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 60_000, 60_000, h);
    hb.start();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(600);
      hb.sent();
    }
    expect(h.idles).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(h.idles).toBe(1);
    hb.cancel();
  });

  it("sends no heartbeat while writes are queued (the peer has something coming)", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 60_000, 60_000, h);
    hb.start();
    h.progress = performance.now();
    vi.advanceTimersByTime(5000);
    expect(h.idles).toBe(0);
    hb.cancel();
  });

  it("calls the peer silent after timeout without frames, only after one more loop turn", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 60_000, h);
    hb.start();
    vi.advanceTimersByTime(2999);
    expect(h.silents).toBe(0);
    // The timer at 3000 ms only schedules the check; the peer's frames may still be unread.
    vi.advanceTimersByTime(1);
    expect(h.silents).toBe(0);
    vi.runOnlyPendingTimers();
    expect(h.silents).toBe(1);
  });

  it("a frame read during the extra loop turn saves the peer", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 60_000, h);
    hb.start();
    vi.advanceTimersByTime(3000);
    hb.received(); // the poll phase delivered a frame
    vi.advanceTimersByTime(2999);
    expect(h.silents).toBe(0);
    vi.advanceTimersByTime(1);
    vi.runOnlyPendingTimers();
    expect(h.silents).toBe(1);
  });

  it("frames received within the timeout keep the peer alive indefinitely", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 60_000, h);
    hb.start();
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(2500);
      hb.received();
    }
    expect(h.silents).toBe(0);
    hb.cancel();
  });

  it("silence while reading is suspended (receive backpressure) is not the peer's", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 60_000, h);
    hb.start();
    hb.suspend(true);
    vi.advanceTimersByTime(20_000);
    vi.runOnlyPendingTimers();
    expect(h.silents).toBe(0);
    // Resuming counts as fresh traffic: the full timeout runs again from here.
    hb.suspend(false);
    vi.advanceTimersByTime(2999);
    expect(h.silents).toBe(0);
    vi.advanceTimersByTime(1);
    vi.runOnlyPendingTimers();
    expect(h.silents).toBe(1);
  });

  it("declares a slow consumer when queued writes make no progress for stallTimeout", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 60_000, 5000, h);
    hb.start();
    h.progress = performance.now();
    vi.advanceTimersByTime(4000);
    expect(h.stalls).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(h.stalls).toBe(1);
    hb.cancel();
  });

  it("write progress postpones the stall verdict", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 60_000, 5000, h);
    hb.start();
    for (let i = 0; i < 10; i++) {
      h.progress = performance.now();
      vi.advanceTimersByTime(4000);
    }
    expect(h.stalls).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(h.stalls).toBe(1);
    hb.cancel();
  });

  it("cancel() stops every verdict", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 5000, h);
    hb.start();
    hb.cancel();
    vi.advanceTimersByTime(60_000);
    vi.runOnlyPendingTimers();
    expect([h.idles, h.silents, h.stalls]).toEqual([0, 0, 0]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps exactly one timer armed however much traffic there is", () => {
    const h = new Hooks();
    const hb = new Heartbeat(1000, 3000, 5000, h);
    hb.start();
    for (let i = 0; i < 1000; i++) {
      hb.sent();
      hb.received();
    }
    expect(vi.getTimerCount()).toBe(1);
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1000);
      hb.received();
      expect(vi.getTimerCount()).toBe(1);
    }
    expect(h.idles).toBe(10);
    hb.cancel();
  });
});
