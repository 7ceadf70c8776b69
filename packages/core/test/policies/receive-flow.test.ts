/**
 * Receive flow (receive-flow.ts) alone, over fake connections: a flooding
 * peer pauses at its share of the receive marks while another keeps being
 * read, all reading pauses over the marks, and both resume below half as
 * the application reads. No socket.
 */
import { describe, expect, it } from "vitest";
import type { Connection } from "../../src/connection.js";
import { Peer } from "../../src/peer.js";
import { Peers } from "../../src/peers.js";
import { ReceiveFlow } from "../../src/receive-flow.js";

class ReadConn {
  paused = false;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

function setup(bytes: number, messages: number, names: string[]) {
  const peers = new Peers();
  const flow = new ReceiveFlow(bytes, messages, peers.open);
  const list = names.map((n) => {
    const conn = new ReadConn();
    const p = new Peer(conn as unknown as Connection, "bind");
    p.identity = Buffer.from(n);
    p.key = n;
    peers.add(p);
    peers.admit(p);
    flow.admitted(p);
    return { p, conn };
  });
  return { flow, list };
}

/** One message from `p`, in a read of its own. */
function msg(flow: ReceiveFlow, p: Peer, conn: ReadConn): void {
  const read = Buffer.alloc(8);
  flow.push(p, read, 0, read.length);
}

describe("ReceiveFlow", () => {
  it("pauses a flooding peer at its share of the message mark; a quiet peer is still read", () => {
    const { flow, list } = setup(1 << 30, 100, ["a", "b"]);
    const [a, b] = list;
    let n = 0;
    while (!a!.conn.paused && n < 1000) {
      msg(flow, a!.p, a!.conn);
      n++;
    }
    // Alone with a backlog, its share is the marks / (1 backlogged + 1) = 50.
    expect(n).toBe(50);
    expect(b!.conn.paused).toBe(false);
    msg(flow, b!.p, b!.conn);
    expect(b!.conn.paused).toBe(false);
  });

  it("resumes a paused peer once the application reads it below half its share", async () => {
    const { flow, list } = setup(1 << 30, 100, ["a"]);
    const a = list[0]!;
    for (let i = 0; i < 50; i++) msg(flow, a.p, a.conn);
    expect(a.conn.paused).toBe(true);
    let read = 0;
    while (a.conn.paused) {
      await flow.queue.next((_id, p) => p);
      read++;
    }
    // Resumes at 25 queued (half of its share of 50).
    expect(read).toBe(25);
  });

  it("pauses every peer when the whole queue reaches the marks, and resumes them at half", async () => {
    const { flow, list } = setup(1 << 30, 40, ["a", "b", "c", "d"]);
    // Frames already read keep arriving from paused peers (the rest of their chunk).
    for (let i = 0; i < 40 && !flow.queue.readingPaused; i++) for (const x of list) msg(flow, x.p, x.conn);
    expect(flow.queue.readingPaused).toBe(true);
    expect(list.every((x) => x.conn.paused)).toBe(true);
    while (flow.queue.readingPaused) await flow.queue.next((_id, p) => p);
    expect(flow.queue.length).toBeLessThanOrEqual(20);
  });

  it("a peer admitted while all reading is paused starts paused", () => {
    const { flow, list } = setup(1 << 30, 4, ["a"]);
    for (let i = 0; i < 4; i++) msg(flow, list[0]!.p, list[0]!.conn);
    expect(flow.queue.readingPaused).toBe(true);
    const conn = new ReadConn();
    const late = new Peer(conn as unknown as Connection, "bind");
    late.identity = Buffer.from("late");
    flow.admitted(late);
    expect(conn.paused).toBe(true);
  });
});
