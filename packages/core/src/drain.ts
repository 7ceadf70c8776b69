/**
 * Leaving without loss (docs/fleet.md): draining one peer (its address left
 * DNS, replicas.ts) and every peer (the socket's drain(), the shutdown for
 * SIGTERM). A draining peer is routed to no more (peers.ts keeps it by
 * identity, out of the routers' list), still read from and acknowledged; once
 * what it holds is finished it gets a half-close (TCP FIN after the last
 * frame: no wire change) and is read until it closes its side, so what it had
 * already sent, and its ACKs, still arrive.
 */
import { AiomsgError } from "./errors.js";
import type { AckBatcher } from "./ack-batcher.js";
import type { Connection } from "./connection.js";
import type { Outbox } from "./outbox.js";
import type { Peer } from "./peer.js";
import type { Peers } from "./peers.js";
import type { Reliability } from "./reliability.js";
import type { RoundRobin } from "./round-robin.js";
import { WaitList } from "./wait.js";

/** What draining needs from its socket. */
export interface DrainHost {
  readonly peers: Peers;
  readonly rr: RoundRobin;
  readonly acks: AckBatcher;
  readonly outbox: Outbox;
  readonly reliability: Reliability;
  /** Woken when the socket holds nothing more to send (close()'s linger wait). */
  readonly idle: WaitList<void>;
  closed(): boolean;
  /** A peer is routed to no more (the peerDraining event). */
  draining(peer: Peer): void;
}

export class Drain {
  /** Waiting for a draining peer's queue and acknowledgements to empty. */
  private readonly waiters = new WaitList<void>();

  constructor(private readonly host: DrainHost) {}

  /** Room may have opened, or a message was settled: a waiting drain looks again. */
  released(): void {
    if (this.waiters.length > 0) this.waiters.wakeAll();
  }

  /** Routed to no more: out of the routers' list, still registered by identity. */
  start(peer: Peer): void {
    const h = this.host;
    const index = h.peers.drain(peer);
    if (index < 0) return;
    h.rr.removed(index);
    h.draining(peer);
  }

  /**
   * Drain one connection: route nothing new to it, wait up to `timeout` ms
   * for what it holds (queued writes, unacknowledged messages) to finish,
   * send what is still unacknowledged to the other peers, then half-close it
   * and read until the peer closes too (up to `timeout` more). Resolves once
   * its connection is closed.
   */
  async connection(conn: Connection, timeout: number): Promise<void> {
    const h = this.host;
    const peer = conn.peer;
    if (!conn.isOpen || peer.state === "pending") {
      // Handshaking, awaiting admission, or already gone: nothing was routed to it.
      conn.close(undefined);
      await conn.done;
      return;
    }
    this.start(peer);
    const deadline = performance.now() + timeout;
    for (;;) {
      const busy = conn.queuedBytes > 0 || peer.unackedCount > 0;
      const ms = deadline - performance.now();
      if (!busy || ms <= 0 || !conn.isOpen) break;
      await this.waiters.sleep(ms, undefined, undefined);
    }
    // Not acknowledged in time: sent again to the other peers now (a late ACK still settles it).
    if (conn.isOpen && peer.unackedCount > 0) h.reliability.peerLost(peer, h.closed());
    h.acks.flush();
    conn.halfClose();
    await untilClosed([conn], timeout);
    conn.close(conn.closed ? undefined : new AiomsgError("ERR_AIOMSG_PEER_LOST", `${conn.describe()} did not close within ${timeout} ms of draining`));
    await conn.done;
  }

  /**
   * The socket's drain(), once it accepts, dials and takes sends no more:
   * what send() accepted goes out and its acknowledgements come back (peers
   * still open, for up to half of `timeout`); then every peer gets its ACKs
   * and a half-close, and is read until it has closed its side (until
   * `timeout`). The caller closes the socket after.
   */
  async all(timeout: number): Promise<void> {
    const h = this.host;
    const start = performance.now();
    h.acks.flush();
    for (const p of h.peers.open) p.conn.flush();
    if (!h.outbox.idle && timeout > 0) await h.idle.sleep(timeout / 2, undefined, undefined);
    const conns = [...h.peers.all].map((p) => p.conn);
    for (const c of conns) if (c.peer.state === "admitted") this.start(c.peer);
    h.acks.flush();
    for (const c of conns) {
      if (c.isOpen) c.halfClose();
      else c.close(undefined); // still handshaking: it never took anything
    }
    const left = timeout - (performance.now() - start);
    if (left > 0) await untilClosed(conns, left);
  }
}

/** Until every connection in `conns` has closed, or `ms` have passed. */
async function untilClosed(conns: Connection[], ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(conns.map((c) => c.done)),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
