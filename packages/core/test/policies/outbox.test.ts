/**
 * The outbox's at-least-once routes (outbox.ts) over fake peers and fake
 * timers: a message without identity is registered only when a peer with
 * room takes it (a lone peer included), waits in the queue as a plain
 * payload meanwhile, and a message settled while it waits in the queue is
 * not sent again.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Outbox } from "../../src/outbox.js";
import { Peers } from "../../src/peers.js";
import { Reliability } from "../../src/reliability.js";
import { Room } from "../../src/room.js";
import { RoundRobin } from "../../src/round-robin.js";
import { SendQueue } from "../../src/send-queue.js";
import { fakePeer } from "./fakes.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** An at-least-once round-robin outbox with one admitted fake peer whose room is `messages` messages. */
function setup(messages: number, resendInterval = 1000) {
  const peers = new Peers();
  const peer = fakePeer("a");
  peers.add(peer);
  peer.state = "pending";
  peers.admit(peer);
  const room = new Room(1 << 30, messages);
  const rr = new RoundRobin(peers.open, room);
  const dropped: string[] = [];
  const drop = (code: string, payload: Buffer) => dropped.push(`${code}:${payload}`);
  const reliability: Reliability = new Reliability(resendInterval, 10, {
    resend: (entry) => outbox.routeReliable(entry),
    dropped: drop,
    settled: (p) => outbox.released(p),
  });
  const queue = new SendQueue(1 << 30, { bytes: 0 }, reliability);
  const outbox: Outbox = new Outbox(peers, room, rr, rr, queue, reliability, drop);
  /** The payloads written to the peer so far (an at-least-once frame: id, then payload). */
  const sent = () => peer.fake.requestPayloads.map((p) => p.toString());
  return { peer, queue, reliability, outbox, sent, dropped };
}

/** Let the microtask that runs the settled hook (once per read of ACKs) run. */
const settle = () => Promise.resolve();

describe("Outbox, at-least-once", () => {
  it("a lone peer takes messages only within its room; the rest wait unregistered and go out as ACKs free room", async () => {
    const { peer, queue, reliability, outbox, sent } = setup(3);
    for (let i = 0; i < 5; i++) void outbox.send(Buffer.from(`m${i}`), undefined, undefined);
    expect(sent()).toEqual(["m0", "m1", "m2"]);
    expect(queue.length).toBe(2);
    expect(reliability.size).toBe(3); // the queued two have no record (and no id) yet
    reliability.acked(peer.fake.requests[0]!);
    await settle();
    expect(sent()).toEqual(["m0", "m1", "m2", "m3"]);
    for (const id of peer.fake.requests.slice(1)) reliability.acked(id);
    await settle();
    expect(sent()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    reliability.acked(peer.fake.requests[4]!);
    await settle();
    expect(queue.length).toBe(0);
    expect(reliability.size).toBe(0);
    expect(peer.unackedCount).toBe(0);
    expect(outbox.idle).toBe(true);
  });

  it("a message whose ACK arrives while it waits in the queue for a resend is not sent again, and its peer's room is not charged for it", async () => {
    const { peer, queue, reliability, outbox, sent } = setup(1);
    void outbox.send(Buffer.from("first"), undefined, undefined);
    void outbox.send(Buffer.from("second"), undefined, undefined); // the peer is full: queued
    expect(sent()).toEqual(["first"]);
    peer.fake.queuedFrames = 1; // and its writes are not taken yet: no room
    // first's deadline: it goes behind "second" in the queue (send order), off the peer.
    vi.advanceTimersByTime(1000);
    expect(queue.length).toBe(2);
    expect(peer.unackedCount).toBe(0);
    // Then the ACK of its first copy arrives: settled where it waits.
    reliability.acked(peer.fake.requests[0]!);
    await settle();
    expect(sent()).toEqual(["first"]);
    // The peer's writes complete: the queue goes out, without the settled message.
    peer.fake.queuedFrames = 0;
    outbox.released(peer);
    expect(sent()).toEqual(["first", "second"]);
    expect(queue.length).toBe(0);
    reliability.acked(peer.fake.requests[1]!);
    await settle();
    expect(peer.unackedCount).toBe(0);
    expect(reliability.size).toBe(0);
    expect(outbox.idle).toBe(true);
  });

  it("an acknowledged record is reused for a later message, with that message's payload and a new id; the old id acknowledges nothing", async () => {
    const { peer, reliability, outbox, sent } = setup(10);
    void outbox.send(Buffer.from("one"), undefined, undefined);
    const first = peer.fake.requests[0]!;
    reliability.acked(first);
    await settle();
    expect(reliability.size).toBe(0);
    void outbox.send(Buffer.from("two"), undefined, undefined);
    expect(sent()).toEqual(["one", "two"]);
    const second = peer.fake.requests[1]!;
    expect(second.equals(first)).toBe(false);
    expect(reliability.size).toBe(1);
    reliability.acked(first); // a duplicate ACK of the old message
    await settle();
    expect(reliability.size).toBe(1);
    expect(peer.unackedCount).toBe(1);
    reliability.acked(second);
    await settle();
    expect(reliability.size).toBe(0);
  });

  it("a record acknowledged while it waits in the queue is not reused before the queue lets it go", async () => {
    const { peer, queue, reliability, outbox, sent } = setup(1);
    void outbox.send(Buffer.from("first"), undefined, undefined);
    void outbox.send(Buffer.from("second"), undefined, undefined); // the peer is full: queued unregistered
    peer.fake.queuedFrames = 1;
    vi.advanceTimersByTime(1000); // first goes back to the queue, behind second
    reliability.acked(peer.fake.requests[0]!); // settled where it waits
    await settle();
    // A message sent by identity now takes a record: not the one still in the queue.
    const third = reliability.create(Buffer.from("third"), Buffer.from("a"));
    expect([...queue.drain()].includes(third)).toBe(false);
    expect(sent()).toEqual(["first"]);
  });

  it("a message requeued at its deadline frees its peer's room, and the queue goes out at once (no wait for another event)", () => {
    const { queue, outbox, sent } = setup(1);
    void outbox.send(Buffer.from("first"), undefined, undefined);
    void outbox.send(Buffer.from("second"), undefined, undefined); // the peer is full: queued
    vi.advanceTimersByTime(1000);
    expect(sent()).toEqual(["first", "second", "first"]);
    expect(queue.length).toBe(0);
  });
});
