/**
 * The peers registry: every peer record of the socket (handshaking or open),
 * the admitted ones by identity, and the admitted ones in admission order as
 * the array the routers walk. Admission refuses a second connection of an
 * identity already admitted.
 */
import type { Peer } from "./peer.js";
import type { SocketStats } from "./socket-types.js";

export class Peers {
  /** Every live connection's peer, pending or admitted. */
  readonly all = new Set<Peer>();
  /** Admitted peers, in admission order (routers index it). */
  readonly open: Peer[] = [];
  private readonly byKey = new Map<string, Peer>();

  get size(): number {
    return this.all.size;
  }

  add(peer: Peer): void {
    this.all.add(peer);
  }

  /** The admitted peer with this identity (latin1 key), if any. */
  get(identity: Buffer): Peer | undefined {
    return this.byKey.get(identity.toString("latin1"));
  }

  /** Whether an admitted peer has this identity key (see Peer.key). */
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** The peer passed the handshake and admission: routed to from now on. */
  admit(peer: Peer): void {
    peer.state = "admitted";
    this.byKey.set(peer.key, peer);
    this.open.push(peer);
  }

  /**
   * The peer's connection ended. Returns its index in `open` (for the
   * routers' cursors), or -1 when it had not been admitted.
   */
  remove(peer: Peer): number {
    this.all.delete(peer);
    const admitted = peer.state === "admitted" || peer.state === "draining";
    peer.state = "closed";
    if (!admitted || this.byKey.get(peer.key) !== peer) return -1;
    this.byKey.delete(peer.key);
    const i = this.open.indexOf(peer);
    if (i >= 0) this.open.splice(i, 1);
    return i;
  }

  /** stats(): add every peer's counters to the socket's, and list the admitted peers. */
  addStats(out: SocketStats): void {
    for (const p of this.all) {
      out.messagesIn += p.messagesIn;
      out.bytesIn += p.bytesIn;
      out.messagesOut += p.messagesOut;
      out.bytesOut += p.bytesOut;
      if (p.isOpen) out.peers.push(p.stats());
    }
  }
}
