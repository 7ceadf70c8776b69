/**
 * Round-robin (round-robin.ts) and publish (publish.ts) routing alone, over
 * fake peers: turn order, skipping a full peer, the single-peer rule, and the
 * cursor repair when a peer leaves (as libzmq's lb_t::pipe_terminated).
 */
import { describe, expect, it } from "vitest";
import { Peers } from "../../src/peers.js";
import { Publish } from "../../src/publish.js";
import { Room } from "../../src/room.js";
import { RoundRobin } from "../../src/round-robin.js";
import { fakePeer } from "./fakes.js";

function setup(names: string[], room = new Room(1000, 10)) {
  const peers = new Peers();
  const list = names.map((n) => fakePeer(n));
  for (const p of list) {
    peers.add(p);
    p.state = "pending";
    peers.admit(p);
  }
  return { peers, list, rr: new RoundRobin(peers.open, room) };
}

const names = (ps: ({ identity: Buffer | undefined } | undefined)[]) => ps.map((p) => p?.identity?.toString() ?? "-");

describe("RoundRobin", () => {
  it("takes admitted peers in turn", () => {
    const { rr } = setup(["a", "b", "c"]);
    expect(names(Array.from({ length: 7 }, () => rr.next()))).toEqual(["a", "b", "c", "a", "b", "c", "a"]);
  });

  it("skips a full peer without losing its turn order for the others", () => {
    const { rr, list } = setup(["a", "b", "c"]);
    list[1]!.fake.queuedBytes = 1000; // b is at its byte mark
    expect(names(Array.from({ length: 4 }, () => rr.next()))).toEqual(["a", "c", "a", "c"]);
    list[1]!.fake.queuedBytes = 0;
    expect(names(Array.from({ length: 3 }, () => rr.next()))).toEqual(["a", "b", "c"]);
  });

  it("counts unacknowledged messages and queued frames against the room", () => {
    const { rr, list } = setup(["a", "b"]);
    list[0]!.unackedCount = 6;
    list[0]!.fake.queuedFrames = 4; // 6 + 4 = the 10-message mark
    expect(names([rr.next(), rr.next()])).toEqual(["b", "b"]);
  });

  it("returns undefined when every peer is full, and deliver() then writes nothing", () => {
    const { rr, list } = setup(["a", "b"]);
    for (const p of list) p.fake.queuedBytes = 5000;
    expect(rr.next()).toBeUndefined();
    expect(rr.deliver(Buffer.from("x"))).toBe(false);
    expect(list.map((p) => p.fake.data.length)).toEqual([0, 0]);
  });

  it("a single peer takes messages beyond its own mark (there is no other)", () => {
    const { rr, list } = setup(["a"]);
    list[0]!.fake.queuedBytes = 1e9;
    expect(rr.next()).toBe(list[0]);
  });

  it("repairs the cursor when a peer before it leaves: the peer that was next still is", () => {
    const { rr, peers, list } = setup(["a", "b", "c", "d"]);
    expect(names([rr.next(), rr.next()])).toEqual(["a", "b"]); // c is next
    rr.removed(peers.remove(list[0]!).index); // a leaves
    expect(names([rr.next(), rr.next(), rr.next()])).toEqual(["c", "d", "b"]);
  });

  it("keeps the cursor when the peer leaving is at or after it", () => {
    const { rr, peers, list } = setup(["a", "b", "c", "d"]);
    expect(names([rr.next()])).toEqual(["a"]); // b is next
    rr.removed(peers.remove(list[2]!).index); // c leaves
    expect(names([rr.next(), rr.next(), rr.next()])).toEqual(["b", "d", "a"]);
    rr.removed(peers.remove(list[1]!).index); // b, the one just used, leaves
    expect(names([rr.next(), rr.next()])).toEqual(["d", "a"]);
  });

  it("a draining peer is routed to no more, the cursor repaired; when it leaves it still counts as admitted", () => {
    const { rr, peers, list } = setup(["a", "b", "c"]);
    expect(names([rr.next()])).toEqual(["a"]); // b is next
    rr.removed(peers.drain(list[0]!)); // a drains
    expect(list[0]!.state).toBe("draining");
    expect(peers.get(list[0]!.identity!)).toBeUndefined();
    expect(names([rr.next(), rr.next(), rr.next()])).toEqual(["b", "c", "b"]);
    expect(peers.remove(list[0]!)).toEqual({ admitted: true, index: -1 });
  });

  it("a peer never admitted leaves no trace (remove says not admitted, index -1)", () => {
    const { peers } = setup(["a"]);
    const pending = fakePeer("p");
    peers.add(pending);
    pending.state = "pending";
    expect(peers.remove(pending)).toEqual({ admitted: false, index: -1 });
    expect(peers.open.length).toBe(1);
  });
});

describe("Publish", () => {
  it("writes to every peer with room and reports a full one's copy dropped", () => {
    const { peers, list } = setup(["a", "b", "c"]);
    list[1]!.fake.queuedBytes = 1000;
    const full: string[] = [];
    const pub = new Publish(peers.open, new Room(1000, 10), (payload, peer) => full.push(`${peer.identity}:${payload}`));
    expect(pub.deliver(Buffer.from("m"))).toBe(true);
    expect(list.map((p) => p.fake.data.length)).toEqual([1, 0, 1]);
    expect(full).toEqual(["b:m"]);
  });
});
