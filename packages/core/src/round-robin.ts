/**
 * Round-robin routing (libzmq's lb): each message to the next admitted peer
 * in turn that has room. A full peer is skipped, so a slow one never holds up
 * the others; when every peer is full the caller queues the message for
 * whichever frees room first. When a peer leaves, the cursor is repaired so
 * the peer that was next still is (lb_t::pipe_terminated). At-least-once
 * messages take their peer from here too (next()).
 */
import type { Peer } from "./peer.js";
import type { Room } from "./room.js";

export class RoundRobin {
  private cursor = 0;

  constructor(
    /** The registry's admitted peers (Peers.open), shared. */
    private readonly open: Peer[],
    private readonly room: Room,
  ) {}

  /**
   * The next admitted peer in turn that has room; undefined when every one
   * is full or none is admitted. A single peer takes messages beyond its own
   * mark: there is no other to give them to, and send() waits at
   * highWaterMark all the same.
   */
  next(): Peer | undefined {
    const open = this.open;
    const n = open.length;
    if (n === 1) return open[0];
    for (let k = 0; k < n; k++) {
      if (this.cursor >= n) this.cursor = 0;
      const peer = open[this.cursor++]!;
      if (this.room.has(peer)) return peer;
    }
    return undefined;
  }

  /**
   * The next admitted peer in turn that has room, a lone peer included: an
   * at-least-once message is only sent within a peer's room, so that what
   * is unacknowledged stays bounded per peer (the rest waits in the queue,
   * not yet given an id).
   */
  nextWithRoom(): Peer | undefined {
    const open = this.open;
    if (open.length === 1) return this.room.has(open[0]!) ? open[0] : undefined;
    return this.next();
  }

  /** Write an at-most-once message to the next peer with room; false when there is none (queue it). */
  deliver(payload: Uint8Array): boolean {
    const peer = this.next();
    if (peer === undefined) return false;
    peer.writeData(payload);
    return true;
  }

  /** The peer at `index` of the admitted peers left. */
  removed(index: number): void {
    if (this.cursor > index) this.cursor--;
  }
}
