/**
 * ACK batching: a DATA message received at-least-once is acknowledged on its
 * own connection shortly after it is handed over (ackDelay), and one timer
 * serves every ACK owed meanwhile, so a burst of requests costs one timer and
 * its ACKs leave in the same writes. A peer that does not read what we write
 * gets no more ACKs queued than its room for control frames allows (room.ts):
 * those it misses make it resend, a duplicate that at-least-once permits,
 * never an unbounded queue here. A steady stream is acknowledged every
 * ACK_BATCH requests without waiting for the timer. The ids owed are copied into one flat
 * buffer, so an ACK owed holds no view of the read it came in (which would
 * keep that read alive until the batch leaves) and costs no object.
 */
import { DEBUG, debug } from "./log.js";
import type { Peer } from "./peer.js";
import type { Room } from "./room.js";
import type { WriteMeter } from "./frame-writer.js";
import { copy16 } from "./platform.js";

/** Message ids are 16 bytes on every wire (v1, legacy, early). */
const ID = 16;
/**
 * ACKs owed that are queued at once, without waiting for ackDelay: a steady
 * stream of requests is acknowledged in batches of this many, so its sender
 * holds each message for about a read's time rather than ackDelay (less
 * memory, and for a garbage-collected sender, records that die young).
 */
export const ACK_BATCH = 512;

export class AckBatcher {
  // ACKs owed: the peer of the i-th in peers[i], its id at ids[16 i..16 i + 16].
  private peers: Peer[] = [];
  /** The other peers array, empty: a flush reads one while ACKs owed meanwhile go into the other (no array grown per batch). */
  private sparePeers: Peer[] = [];
  private ids = Buffer.allocUnsafe(64 * ID);
  /** The other buffer: a flush reads one while ACKs owed meanwhile go into the other. */
  private spare = Buffer.allocUnsafe(64 * ID);
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly delay: number,
    private readonly room: Room,
    private readonly meter: WriteMeter,
  ) {}

  /** ACKs owed and not yet queued. */
  get length(): number {
    return this.peers.length;
  }

  /** Owe `peer` an ACK for the id at `buf[at..at+16]`: queued at the batch's deadline. */
  push(peer: Peer, buf: Uint8Array, at = 0): void {
    const n = this.peers.length;
    let ids = this.ids;
    if ((n + 1) * ID > ids.length) {
      const grown = Buffer.allocUnsafe(ids.length * 2);
      ids.copy(grown, 0, 0, n * ID);
      this.ids = ids = grown;
    }
    copy16(ids, n * ID, buf, at);
    this.peers.push(peer);
    if (n + 1 >= ACK_BATCH) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(this.flush, this.delay);
  }

  /** Queue every ACK owed now (the deadline, or close()). */
  readonly flush = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const peers = this.peers;
    const ids = this.ids;
    this.peers = this.sparePeers;
    this.sparePeers = peers;
    this.ids = this.spare;
    this.spare = ids;
    let skipped = 0;
    // The batch leaves in one write per peer (see WriteMeter.batching), each
    // run of one peer's ACKs in one call.
    this.meter.batching++;
    try {
      for (let i = 0, j = 0; i < peers.length; i = j) {
        const peer = peers[i]!;
        for (j = i + 1; j < peers.length && peers[j] === peer; ) j++;
        if (!peer.writable) continue;
        const conn = peer.conn;
        const n = Math.min(j - i, this.room.forControl(peer, conn.ackSize));
        if (n > 0) conn.writeAcks(ids, i * ID, n);
        skipped += j - i - n;
      }
    } finally {
      this.meter.batching--;
      peers.length = 0;
    }
    if (DEBUG && skipped > 0) debug("%d ACKs not queued: their peers' writes are full", skipped);
  };
}
