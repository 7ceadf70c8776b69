/**
 * At-least-once resends (reliability.ts) alone, on fake timers: a message
 * goes again at its deadline, gives up after maxResends with
 * ERR_AIOMSG_RETRIES_EXHAUSTED, an ACK settles it (no resend after), a lost
 * peer's messages go again at once, and the charge is counted once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Peer } from "../../src/peer.js";
import { RELIABLE_OVERHEAD, Reliability, type Reliable } from "../../src/reliability.js";
import { fakePeer } from "./fakes.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A Reliability whose resends go back to one fake peer (as the socket's router would send them). */
function setup(interval: number, maxResends: number) {
  const peer = fakePeer("a");
  const resent: Reliable[] = [];
  const dropped: string[] = [];
  const settled: (Peer | undefined)[] = [];
  const rel: Reliability = new Reliability(interval, maxResends, {
    resend: (entry) => {
      resent.push(entry);
      rel.sendOn(entry, peer);
    },
    dropped: (code, payload) => dropped.push(`${code}:${payload}`),
    settled: (p) => settled.push(p),
  });
  return { rel, peer, resent, dropped, settled };
}

describe("Reliability", () => {
  it("keeps at most 8,192 acknowledged records for reuse, and none of their payloads", () => {
    const { rel, peer } = setup(1000, 2);
    const sent = Array.from({ length: 10_000 }, (_, i) => rel.create(Buffer.from(`m${i}`), undefined));
    for (const e of sent) rel.sendOn(e, peer);
    for (const id of peer.fake.requests) rel.acked(id);
    expect(rel.size).toBe(0);
    const pool = (rel as unknown as { pool: Reliable[] }).pool;
    expect(pool.length).toBe(8192);
    expect(pool.every((e) => e.payload.length === 0 && e.identity === undefined)).toBe(true);
  });

  it("resends an unacknowledged message at each deadline, then gives up after maxResends", () => {
    const { rel, peer, resent, dropped } = setup(1000, 2);
    const e = rel.create(Buffer.from("m"), undefined);
    rel.sendOn(e, peer);
    expect(peer.fake.requests.length).toBe(1);
    vi.advanceTimersByTime(999);
    expect(resent.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(resent.length).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(resent.length).toBe(2);
    expect(peer.fake.requests.length).toBe(3);
    expect(dropped).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(dropped).toEqual(["ERR_AIOMSG_RETRIES_EXHAUSTED:m"]);
    expect(rel.size).toBe(0);
    expect(rel.bytes).toBe(0);
    expect(peer.unackedCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("every resend keeps the same message id", () => {
    const { rel, peer } = setup(100, 3);
    const e = rel.create(Buffer.from("m"), undefined);
    rel.sendOn(e, peer);
    vi.advanceTimersByTime(300);
    expect(peer.fake.requests.length).toBe(4);
    for (const r of peer.fake.requests) expect(r.equals(e.msgId)).toBe(true);
  });

  it("an ACK settles the message: no resend, its charges released at once, the settled hook once per read (a microtask), one timer for the rest", async () => {
    const { rel, peer, resent, settled } = setup(1000, 5);
    const a = rel.create(Buffer.from("aa"), undefined);
    const b = rel.create(Buffer.from("bbb"), undefined);
    rel.sendOn(a, peer);
    vi.advanceTimersByTime(500);
    rel.sendOn(b, peer);
    expect(rel.bytes).toBe(5 + 2 * RELIABLE_OVERHEAD);
    expect(peer.unackedBytes).toBe(rel.bytes);
    rel.acked(Buffer.from(a.msgId));
    expect(rel.bytes).toBe(3 + RELIABLE_OVERHEAD);
    expect(peer.unackedCount).toBe(1);
    expect(settled).toEqual([]);
    await Promise.resolve();
    expect(settled).toEqual([peer]);
    vi.advanceTimersByTime(500);
    expect(resent).toEqual([]); // a's deadline passed: acknowledged, nothing to do
    vi.advanceTimersByTime(500);
    expect(resent).toEqual([b]);
  });

  it("ACKs read together run the settled hook once for their peer, not once per ACK", async () => {
    const { rel, peer, settled } = setup(1000, 5);
    const sent = Array.from({ length: 5 }, (_, i) => rel.create(Buffer.from(`m${i}`), undefined));
    for (const e of sent) rel.sendOn(e, peer);
    for (const e of sent) rel.acked(Buffer.from(e.msgId));
    expect(rel.size).toBe(0);
    expect(peer.unackedCount).toBe(0);
    await Promise.resolve();
    expect(settled).toEqual([peer]);
  });

  it("ignores an ACK for an unknown id, or one whose counter matches but whose bytes do not", () => {
    const { rel, peer } = setup(1000, 5);
    const e = rel.create(Buffer.from("m"), undefined);
    rel.sendOn(e, peer);
    const forged = Buffer.from(e.msgId);
    forged[0] = forged[0]! ^ 0xff;
    rel.acked(forged);
    rel.acked(Buffer.alloc(16));
    expect(rel.size).toBe(1);
  });

  it("a lost peer's messages go again at once, oldest first, not at their deadline", () => {
    const { rel, peer, resent } = setup(60_000, 5);
    const es = [0, 1, 2].map((i) => rel.create(Buffer.from(`m${i}`), undefined));
    for (const e of es) rel.sendOn(e, peer);
    rel.peerLost(peer, false);
    expect(resent).toEqual(es);
    expect(rel.resends).toBe(3);
  });

  it("a message waiting in the send queue is not resent from its old slot", () => {
    const { rel, peer, resent } = setup(1000, 5);
    const e = rel.create(Buffer.from("m"), undefined);
    rel.sendOn(e, peer);
    rel.queued(e); // the socket queued it (no peer with room)
    expect(peer.unackedCount).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(resent).toEqual([]);
    expect(rel.size).toBe(1); // still owed: it leaves the queue later
  });

  it("a message with no peer now is scheduled and tried at its deadline", () => {
    const { rel, resent } = setup(1000, 5);
    const e = rel.create(Buffer.from("m"), Buffer.from("absent"));
    rel.sendOn(e, undefined);
    vi.advanceTimersByTime(1000);
    expect(resent).toEqual([e]);
  });

  it("close() gives up every message as ERR_AIOMSG_CLOSE_LINGER and stops the timer", () => {
    const { rel, peer, dropped } = setup(1000, 5);
    for (const s of ["x", "y"]) rel.sendOn(rel.create(Buffer.from(s), undefined), peer);
    rel.close();
    expect(dropped).toEqual(["ERR_AIOMSG_CLOSE_LINGER:x", "ERR_AIOMSG_CLOSE_LINGER:y"]);
    expect(vi.getTimerCount()).toBe(0);
    expect(rel.bytes).toBe(0);
  });
});
