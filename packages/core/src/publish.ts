/**
 * Publish routing (libzmq's dist): each message to every admitted peer that
 * has room. A full peer's copy is dropped and reported
 * (ERR_AIOMSG_PEER_FULL), as a ZeroMQ PUB socket drops at a subscriber's
 * high-water mark, so one slow subscriber never holds up the rest.
 */
import type { Peer } from "./peer.js";
import type { Room } from "./room.js";

export type PeerFull = (payload: Uint8Array, peer: Peer) => void;

export class Publish {
  constructor(
    /** The registry's admitted peers (Peers.open), shared. */
    private readonly open: Peer[],
    private readonly room: Room,
    private readonly full: PeerFull,
  ) {}

  /** Write to every admitted peer with room; always true (nothing is queued for a full peer). */
  deliver(payload: Uint8Array): boolean {
    const open = this.open;
    for (let i = 0; i < open.length; i++) {
      const peer = open[i]!;
      if (this.room.has(peer)) peer.writeData(payload);
      else this.full(payload, peer);
    }
    return true;
  }
}
