/**
 * Fifo (fifo.ts), the one FIFO behind the send queue, the resend schedule,
 * the inboxes and the waiters: order against a plain array model, and memory
 * that stays proportional to what it holds under a backlog that never empties.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Fifo } from "../../src/fifo.js";

describe("Fifo", () => {
  it("property: behaves like an array used with push/shift/remove", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant("shift"), fc.constant("remove"), fc.integer({ min: 0, max: 1000 })), { maxLength: 20_000 }), (ops) => {
        const f = new Fifo<number>(0);
        const model: number[] = [];
        for (const op of ops) {
          if (op === "shift") expect(f.shift()).toBe(model.shift());
          else if (op === "remove") {
            const v = model[Math.floor(model.length / 2)];
            if (v !== undefined) {
              model.splice(model.indexOf(v), 1);
              expect(f.remove(v)).toBe(true);
            }
          } else {
            f.push(op);
            model.push(op);
          }
          expect(f.length).toBe(model.length);
          expect(f.peek()).toBe(model[0]);
          expect(f.last()).toBe(model[model.length - 1]);
        }
        expect([...f]).toEqual(model);
        expect(f.drain()).toEqual(model);
        expect(f.length).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it("a steady backlog that never empties keeps the array proportional to what is queued", () => {
    const f = new Fifo<number>(0);
    for (let i = 0; i < 100; i++) f.push(i);
    // A million messages through a queue that always holds ~100.
    let outOfOrder = 0;
    for (let i = 100; i < 1_000_100; i++) {
      f.push(i);
      if (f.shift() !== i - 100) outOfOrder++;
    }
    expect(outOfOrder).toBe(0);
    expect(f.length).toBe(100);
    const items = (f as unknown as { items: number[] }).items;
    expect(items.length).toBeLessThan(2 * 4096 + 200);
  });

  it("gives a spike's capacity back as it drains, without emptying, within about twice its peak capacity of operations, and keeps the order", () => {
    const f = new Fifo<number>(0);
    for (let i = 0; i < 100_000; i++) f.push(i);
    const items = () => (f as unknown as { items: number[] }).items;
    expect(items().length).toBe(131_072);
    for (let i = 0; i < 99_990; i++) expect(f.shift()).toBe(i);
    // A steady backlog of 10 from here: within about twice the peak capacity of operations the ring is small again.
    for (let i = 100_000; i < 400_000; i++) {
      f.push(i);
      expect(f.shift()).toBe(i - 10);
    }
    expect(f.length).toBe(10);
    expect(items().length).toBeLessThanOrEqual(1024);
    expect([...f]).toEqual(Array.from({ length: 10 }, (_, i) => 399_990 + i));
  });

  it("a backlog that swings between full and an eighth does not resize each swing", () => {
    const f = new Fifo<number>(0);
    let resizes = 0;
    const proto = Object.getPrototypeOf(f) as { resize: (c: number) => void };
    const resize = proto.resize;
    (f as unknown as { resize: (c: number) => void }).resize = function (this: unknown, c: number) {
      resizes++;
      resize.call(this, c);
    };
    for (let swing = 0; swing < 50; swing++) {
      while (f.length < 60_000) f.push(swing);
      while (f.length > 1_000) f.shift();
    }
    // Growing to 65,536 takes 14 doublings; 50 swings of 59,000 items would otherwise add 2 x 6 per swing.
    expect(resizes).toBeLessThan(30);
  });

  it("overwrites taken slots with its filler, dropping references", () => {
    const filler = Buffer.alloc(0);
    const f = new Fifo<Buffer>(filler);
    const a = Buffer.from("a");
    f.push(a);
    f.push(Buffer.from("b"));
    expect(f.shift()).toBe(a);
    const items = (f as unknown as { items: Buffer[] }).items;
    expect(items[0]).toBe(filler);
  });

  it("set(i) replaces the i-th item from the head and at(i) reads from the head", () => {
    const f = new Fifo<number>(0);
    f.push(1);
    f.push(2);
    f.push(3);
    f.shift();
    f.set(f.length - 1, 9);
    expect([f.at(0), f.at(1), f.at(2)]).toEqual([2, 9, undefined]);
  });
});
