import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { COUNTER_MASK, PendingWindow } from "../src/pending.js";

describe("PendingWindow", () => {
  it("property: behaves like a Map keyed by the counters it hands out", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(50)), { maxLength: 300 }), (ops) => {
        const w = new PendingWindow<number>();
        const model = new Map<number, number>();
        let n = 0;
        for (const [isAdd, pick] of ops) {
          if (isAdd || model.size === 0) {
            const c = w.add(n);
            model.set(c, n++);
          } else {
            const keys = [...model.keys()];
            const k = keys[pick % keys.length]!;
            w.delete(k);
            model.delete(k);
          }
          expect(w.size).toBe(model.size);
        }
        for (const [k, v] of model) expect(w.get(k)).toBe(v);
        expect([...w.values()]).toEqual([...model.values()]);
      }),
    );
  });

  it("wraps the 30-bit counter", () => {
    const w = new PendingWindow<string>();
    // Walk the base to just below the wrap point without holding a billion slots.
    (w as unknown as { base: number }).base = COUNTER_MASK - 1;
    const a = w.add("a");
    const b = w.add("b");
    const c = w.add("c");
    expect([a, b, c]).toEqual([COUNTER_MASK - 1, COUNTER_MASK, 0]);
    expect(w.get(0)).toBe("c");
    w.delete(a);
    w.delete(b);
    expect(w.get(0)).toBe("c");
    expect(w.nextCounter).toBe(1);
  });
});
