/**
 * ACK batching: a DATA message received at-least-once is acknowledged on its
 * own connection shortly after it is handed over (ackDelay), and one timer
 * serves every ACK owed meanwhile, so a burst of requests costs one timer and
 * its ACKs leave in the same writes. A peer that does not read what we write
 * gets no more ACKs queued than its room for control frames allows (room.ts):
 * those it misses make it resend, a duplicate that at-least-once permits,
 * never an unbounded queue here.
 */
import { debug } from "./log.js";
import type { Peer } from "./peer.js";
import type { Room } from "./room.js";

export class AckBatcher {
  // ACKs owed: peer and message id (a view) side by side.
  private peers: Peer[] = [];
  private ids: Buffer[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly delay: number,
    private readonly room: Room,
  ) {}

  /** ACKs owed and not yet queued. */
  get length(): number {
    return this.peers.length;
  }

  /** Owe `peer` an ACK for `msgId`: queued at the batch's deadline. */
  push(peer: Peer, msgId: Buffer): void {
    this.peers.push(peer);
    this.ids.push(msgId);
    if (this.timer === undefined) this.timer = setTimeout(this.flush, this.delay);
  }

  /** Queue every ACK owed now (the deadline, or close()). */
  readonly flush = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const peers = this.peers;
    const ids = this.ids;
    this.peers = [];
    this.ids = [];
    let skipped = 0;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      if (!peer.writable) continue;
      if (this.room.hasForControl(peer)) peer.conn.writeAck(ids[i]!);
      else skipped++;
    }
    if (skipped > 0) debug("%d ACKs not queued: their peers' writes are full", skipped);
  };
}
