/**
 * WaitList (wait.ts), the one abortable wait behind recv(), the high-water
 * wait, a send to a full peer, linger and the redial backoff: FIFO order, an
 * abort that takes exactly its own waiter out, and timed sleeps on fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WaitList } from "../../src/wait.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("WaitList", () => {
  it("wakes waiters one at a time in the order they parked", async () => {
    const list = new WaitList<number, string>();
    const got: string[] = [];
    const ps = ["a", "b", "c"].map((name) => list.wait(undefined, "aborted", name).then((v) => got.push(`${name}${v}`)));
    expect(list.length).toBe(3);
    for (let i = 1; i <= 3; i++) {
      const w = list.take()!;
      w.resolve(i);
    }
    await Promise.all(ps);
    expect(got).toEqual(["a1", "b2", "c3"]);
    expect(list.take()).toBeUndefined();
  });

  it("wakeAll settles every waiter, oldest first, and empties the list", async () => {
    const list = new WaitList<void>();
    const order: number[] = [];
    const ps = [0, 1, 2, 3].map((i) => list.wait(undefined, "aborted", undefined).then(() => order.push(i)));
    list.wakeAll();
    await Promise.all(ps);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(list.length).toBe(0);
  });

  it("an abort rejects with ERR_AIOMSG_ABORTED and removes only that waiter; the others keep their order", async () => {
    const list = new WaitList<string, number>();
    const ac = new AbortController();
    const first = list.wait(undefined, "aborted", 1);
    const second = list.wait(ac.signal, "send aborted while waiting", 2);
    const third = list.wait(undefined, "aborted", 3);
    ac.abort(new Error("why"));
    await expect(second).rejects.toMatchObject({ code: "ERR_AIOMSG_ABORTED", message: "send aborted while waiting", cause: expect.objectContaining({ message: "why" }) });
    expect(list.length).toBe(2);
    expect(list.take()!.data).toBe(1);
    expect(list.take()!.data).toBe(3);
    void first;
    void third;
  });

  it("a signal already aborted rejects at once without parking", async () => {
    const list = new WaitList<void>();
    const ac = new AbortController();
    ac.abort();
    await expect(list.wait(ac.signal, "too late", undefined)).rejects.toMatchObject({ code: "ERR_AIOMSG_ABORTED" });
    expect(list.length).toBe(0);
  });

  it("a waiter taken out stops listening: a later abort does not reject it", async () => {
    const list = new WaitList<string>();
    const ac = new AbortController();
    const p = list.wait(ac.signal, "aborted", undefined);
    const w = list.take()!;
    ac.abort();
    w.resolve("served");
    await expect(p).resolves.toBe("served");
  });

  it("failAll rejects every waiter with the given error", async () => {
    const list = new WaitList<void>();
    const err = new Error("closed");
    const ps = [list.wait(undefined, "x", undefined), list.wait(undefined, "x", undefined)];
    list.failAll(err);
    for (const p of ps) await expect(p).rejects.toBe(err);
  });

  it("sleep resolves at its deadline, or earlier on wakeAll, and leaves no timer behind", async () => {
    const list = new WaitList<string>();
    let slept: string | undefined;
    void list.sleep(1000, "timer", undefined).then((v) => (slept = v));
    await vi.advanceTimersByTimeAsync(999);
    expect(slept).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(slept).toBe("timer");
    expect(list.length).toBe(0);

    let woken: string | undefined;
    void list.sleep(5000, "timer", undefined).then((v) => (woken = v));
    list.wakeAll("woken");
    await vi.advanceTimersByTimeAsync(0);
    expect(woken).toBe("woken");
    expect(vi.getTimerCount()).toBe(0);
  });
});
