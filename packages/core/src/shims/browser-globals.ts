/**
 * What the core expects of Node's globals, for the browser bundle (esbuild
 * injects these in place of the globals of the same names; the page's own
 * globals are untouched):
 * - Buffer: the part of Node's Buffer the core uses (buffer.ts: a Uint8Array subclass, as Node's is);
 * - setTimeout/clearTimeout: the browser's, with a handle that has Node's
 *   unref()/ref()/hasRef()/refresh() (a page has no event loop to keep alive,
 *   so unref does nothing);
 * - setImmediate/clearImmediate: a macrotask through a MessageChannel (no
 *   4 ms clamp as nested setTimeout(0) has);
 * - process.nextTick: a microtask.
 */
import { Buffer } from "./buffer.js";

export { Buffer };

const realSetTimeout = globalThis.setTimeout.bind(globalThis) as unknown as (fn: () => void, ms?: number) => number;
const realClearTimeout = globalThis.clearTimeout.bind(globalThis) as unknown as (id: number | undefined) => void;

class Timer {
  constructor(
    public id: number,
    private readonly fn: () => void,
    private readonly ms: number,
  ) {}
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    realClearTimeout(this.id);
    this.id = realSetTimeout(this.fn, this.ms);
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

function shimSetTimeout(fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): Timer {
  const run = (): void => fn(...args);
  return new Timer(realSetTimeout(run, ms), run, ms ?? 0);
}

function shimClearTimeout(t: Timer | number | undefined): void {
  if (t === undefined) return;
  realClearTimeout(typeof t === "number" ? t : t.id);
}

export { shimSetTimeout as setTimeout, shimClearTimeout as clearTimeout };

// setImmediate: one MessageChannel, callbacks run in order, one per message.
const immediates = new Map<number, () => void>();
let nextImmediate = 1;
let channel: MessageChannel | undefined;

function post(id: number): void {
  if (channel === undefined) {
    channel = new MessageChannel();
    channel.port1.onmessage = (ev: { data: unknown }) => {
      const fn = immediates.get(ev.data as number);
      if (fn === undefined) return;
      immediates.delete(ev.data as number);
      fn();
    };
  }
  channel.port2.postMessage(id);
}

function shimSetImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]): number {
  const id = nextImmediate++;
  immediates.set(id, () => fn(...args));
  post(id);
  return id;
}

function shimClearImmediate(id: number | undefined): void {
  if (id !== undefined) immediates.delete(id);
}

export { shimSetImmediate as setImmediate, shimClearImmediate as clearImmediate };

export const process = {
  nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void {
    queueMicrotask(() => fn(...args));
  },
  env: {} as Record<string, string | undefined>,
};
