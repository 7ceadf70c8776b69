/**
 * The peers registry: every peer record of the socket (handshaking or open),
 * the admitted ones by identity, and the admitted ones in admission order as
 * the array the routers walk. Admission refuses a second connection of an
 * identity already admitted.
 */
import { ProtocolError } from "./errors.js";
import { hex } from "./log.js";
import type { Peer } from "./peer.js";
import type { SocketStats } from "./socket-types.js";

export class Peers {
  /** Every live connection's peer, pending or admitted. */
  readonly all = new Set<Peer>();
  /** Admitted peers, in admission order (routers index it). */
  readonly open: Peer[] = [];
  private readonly byKey = new Map<string, Peer>();
  /**
   * Admitted peers by their identity Buffer itself (the one recvIdentity()
   * hands out): a reply to a received message finds its peer without
   * building a key, and its identity needs no defensive copy.
   */
  private readonly byObject = new WeakMap<Uint8Array, Peer>();

  get size(): number {
    return this.all.size;
  }

  add(peer: Peer): void {
    this.all.add(peer);
  }

  /** The admitted peer with this identity (latin1 key), if any (a draining one takes nothing new). */
  get(identity: Buffer): Peer | undefined {
    let peer = this.byObject.get(identity);
    // Not ours, or a peer gone since (the same identity may have reconnected): by its bytes.
    if (peer === undefined || peer.state !== "admitted") peer = this.byKey.get(identity.toString("latin1"));
    return peer?.state === "admitted" ? peer : undefined;
  }

  /** Whether `value` is the identity Buffer of a peer admitted now or before (this registry's own object). */
  owns(value: unknown): value is Buffer {
    return value instanceof Uint8Array && this.byObject.has(value);
  }

  /** The refusal of `peer` (from `remote`) when an admitted or draining peer has its identity key (see Peer.key): one connection per identity. */
  duplicate(peer: Peer, remote: string): ProtocolError | undefined {
    if (!this.byKey.has(peer.key)) return undefined;
    return new ProtocolError("ERR_AIOMSG_DUPLICATE_IDENTITY", `identity ${hex(peer.identity!)} is already connected; refusing the new connection from ${remote}`);
  }

  /** The peer passed the handshake and admission: routed to from now on. */
  admit(peer: Peer): void {
    peer.state = "admitted";
    this.byKey.set(peer.key, peer);
    this.byObject.set(peer.identity!, peer);
    this.open.push(peer);
  }

  /**
   * The peer starts draining: routed to no more (out of `open`), still
   * registered by identity. Returns its index in `open` for the routers'
   * cursors, or -1 when it was not admitted.
   */
  drain(peer: Peer): number {
    if (peer.state !== "admitted") return -1;
    peer.state = "draining";
    const i = this.open.indexOf(peer);
    if (i >= 0) this.open.splice(i, 1);
    return i;
  }

  /**
   * The peer's connection ended. Returns whether it had been admitted (or
   * was draining), and its index in `open` for the routers' cursors (-1
   * when it was not there).
   */
  remove(peer: Peer): { admitted: boolean; index: number } {
    this.all.delete(peer);
    const admitted = (peer.state === "admitted" || peer.state === "draining") && this.byKey.get(peer.key) === peer;
    peer.state = "closed";
    if (!admitted) return { admitted, index: -1 };
    this.byKey.delete(peer.key);
    const i = this.open.indexOf(peer);
    if (i >= 0) this.open.splice(i, 1);
    return { admitted, index: i };
  }

  /** stats(): add every peer's counters to the socket's, and list the admitted peers. */
  addStats(out: SocketStats): void {
    for (const p of this.all) {
      out.messagesIn += p.messagesIn;
      out.bytesIn += p.bytesIn;
      out.messagesOut += p.messagesOut;
      out.bytesOut += p.bytesOut;
      if (p.isOpen || (p.state === "draining" && !p.conn.closed)) out.peers.push(p.stats());
    }
  }
}
