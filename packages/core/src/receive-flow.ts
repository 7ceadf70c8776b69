/**
 * Receive flow: the receive queue (queue.ts) fed by every admitted peer, and
 * the policy that keeps it within the receive marks. Each peer may hold its
 * share of the marks before reading from it pauses, so a flooding peer is
 * pushed back while the others keep flowing; all reading pauses when the
 * whole queue is over the marks (one flag, ReceiveQueue.readingPaused). The
 * share is the marks divided by the peers with unread messages plus one
 * (shareDivisor): backlogged peers together never fill the marks (a peer
 * with nothing queued is still read at once), and idle peers take no share
 * (one busy peer among 10,000 idle ones may hold half the marks, not
 * 1/10,000). A paused peer resumes once it is under half its share.
 */
import type { Connection } from "./connection.js";
import type { Peer } from "./peer.js";
import { EMPTY, PeerInbox, ReceiveQueue } from "./queue.js";

export class ReceiveFlow {
  readonly queue: ReceiveQueue;

  constructor(
    /** receiveHighWaterMark: bytes. */
    private readonly bytes: number,
    /** receiveHighWaterMessages. */
    private readonly messages: number,
    /** The registry's admitted peers (Peers.open), shared. */
    private readonly open: Peer[],
  ) {
    this.queue = new ReceiveQueue(this.onTaken);
  }

  /** A peer is admitted: give it an inbox, paused if all reading is. */
  admitted(peer: Peer): void {
    peer.inbox = new PeerInbox(peer.identity!, peer.conn);
    if (this.queue.readingPaused) peer.conn.pause();
  }

  /**
   * A peer's payload (`body` from `start` to `end`) arrived; `body` is the
   * read it came in (or its own buffer), charged to the queue once.
   */
  push(peer: Peer, body: Buffer, start: number, end: number): void {
    const queue = this.queue;
    const conn = peer.conn;
    const q = peer.inbox!;
    queue.push(q, start === end ? EMPTY : start === 0 && end === body.length ? body : body.subarray(start, end), body);
    if (!q.paused) {
      const n = this.shareDivisor();
      if (q.bytes > this.bytes / n || q.length >= this.messages / n) {
        q.paused = true;
        conn.pause();
      }
    }
    if (!queue.readingPaused && (queue.bytes > this.bytes || queue.length >= this.messages)) this.pauseAll();
  }

  /** A peer's share of the receive marks is the marks divided by this (the pause and the resume agree on it). */
  private shareDivisor(): number {
    return this.queue.backlogged + 1;
  }

  private pauseAll(): void {
    this.queue.readingPaused = true;
    for (const p of this.open) p.conn.pause();
  }

  private readonly onTaken = (q: PeerInbox<Connection>): void => {
    const queue = this.queue;
    if (q.paused) {
      const n = this.shareDivisor();
      if (q.bytes <= this.bytes / n / 2 && q.length <= this.messages / n / 2) {
        q.paused = false;
        if (!queue.readingPaused) q.source.resume();
      }
    }
    if (queue.readingPaused && queue.bytes <= this.bytes / 2 && queue.length <= this.messages / 2) {
      queue.readingPaused = false;
      for (const p of this.open) if (!p.inbox!.paused) p.conn.resume();
    }
  };
}
