/**
 * A peer's room: the one definition of when a peer may be given more. As
 * libzmq's pipe checks its high-water mark before each write, the routers,
 * the sends waiting for a peer and the ACK batcher ask here.
 */
import type { Peer } from "./peer.js";

export class Room {
  constructor(
    /** peerHighWaterMark: bytes. */
    readonly bytes: number,
    /** peerHighWaterMessages: frames and messages. */
    readonly messages: number,
  ) {}

  /**
   * Room for a message: its queued writes and its unacknowledged messages
   * are below both peer marks (an unacknowledged message still costs memory
   * here, and a peer that does not acknowledge must not take everything).
   */
  has(peer: Peer): boolean {
    const w = peer.writer;
    return w.queuedBytes + peer.unackedBytes < this.bytes && w.queuedFrames + peer.unackedCount < this.messages;
  }

  /**
   * How many control frames (ACKs) of `size` bytes the peer has room for,
   * each admitted while its queued writes alone are below both marks. An ACK
   * settles the peer's message, so the messages it has not acknowledged from
   * us must not hold it back; a peer that does not read gets none beyond its
   * room (it resends, which at-least-once permits).
   */
  forControl(peer: Peer, size: number): number {
    const w = peer.writer;
    return Math.max(0, Math.min(Math.ceil((this.bytes - w.queuedBytes) / size), this.messages - w.queuedFrames));
  }
}
