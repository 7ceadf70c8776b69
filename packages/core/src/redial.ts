/**
 * Redial: a connect end keeps its connection for the life of the socket.
 * After each connection ends (or a dial fails) it waits reconnectionDelay
 * and dials again; after consecutive refusals it backs off (refusalBackoff),
 * so a peer that refuses this one is not hammered. A connection whose
 * handshake failed (not an aiomsg peer, a bad or silent greeting) counts as
 * a refusal. close() wakes the waits and ends the loops. A loop kept for one
 * address behind a followed name (replicas.ts) can be stopped on its own (its
 * address left DNS), and one that was refused parks instead of redialling:
 * the same replica is probably connected through another of its addresses
 * (one identity, one connection), so it waits, without dialling, until the
 * set changes.
 */
import { AiomsgError, ProtocolError } from "./errors.js";
import { DEBUG, debug } from "./log.js";
import { OBSERVED, channels } from "./observe.js";
import type { Connection } from "./connection.js";
import type { Transport } from "./transport.js";
import { WaitList } from "./wait.js";
import { STREAMS } from "./platform.js";

/** Wait before the next attempt after n consecutive refusals: 100 ms doubled each time, at most 5 s. */
export function refusalBackoff(n: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(n, 16));
}

/** What the redial loops need from their socket. */
export interface RedialHost {
  /** The socket, for diagnostics_channel subscribers. */
  readonly socket: object;
  closed(): boolean;
  /** This end sends an admissionToken: a peer that hangs up right after the handshake refused it. */
  readonly sendsToken: boolean;
  reconnectionDelay(): number;
  /** A connection over `transport` to `target` (resolved to `address`); `reconnect` when this end had been connected before. */
  attach(transport: Transport, target: string, address: string | undefined, reconnect: boolean): Connection;
  connecting(target: string, attempt: number, address: string | undefined): void;
  reconnecting(target: string, attempt: number, delay: number, address: string | undefined): void;
  report(err: AiomsgError, conn?: Connection): void;
}

/** One kept connection's loop. */
export class Kept {
  /** The connection now (handshaking or open), if any. */
  conn: Connection | undefined = undefined;
  stopped = false;
  /** Resolves when the loop has ended. */
  ended: Promise<void> = Promise.resolve();
  readonly wake = new WaitList<void>();
  constructor(
    readonly target: string,
    /** The resolved address it dials, for a followed name. */
    readonly address: string | undefined,
    /** Set for a followed name: where a refused loop waits instead of redialling. */
    readonly park: ((kept: Kept) => Promise<void>) | undefined,
    /** Asked once per streak of silent refusals what the peer really is (e.g. a TLS port dialled without TLS); what it finds is reported. */
    readonly diagnose?: () => Promise<AiomsgError | undefined>,
  ) {}

  /** Dial no more; the loop ends once the current connection has (the caller drains or closes it). */
  stop(): void {
    this.stopped = true;
    this.wake.wakeAll();
  }
}

export class Redial {
  private readonly kept = new Set<Kept>();

  constructor(private readonly host: RedialHost) {}

  /** Keep a connection made by `dial` to `target` (which names the peer in errors and events). */
  keep(
    target: string,
    dial: () => Promise<Transport>,
    address?: string,
    park?: (kept: Kept) => Promise<void>,
    diagnose?: () => Promise<AiomsgError | undefined>,
  ): Kept {
    const kept = new Kept(target, address, park, diagnose);
    this.kept.add(kept);
    kept.ended = this.loop(kept, dial).finally(() => this.kept.delete(kept));
    return kept;
  }

  /** close() or drain(): wake every wait; resolves when every loop has ended. */
  stop(): Promise<void[]> {
    const all = [...this.kept];
    for (const k of all) k.stop();
    return Promise.all(all.map((k) => k.ended));
  }

  private async loop(kept: Kept, dial: () => Promise<Transport>): Promise<void> {
    const host = this.host;
    const { target, address } = kept;
    const over = (): boolean => kept.stopped || host.closed();
    /** Consecutive attempts the peer refused: each doubles the wait (see refusalBackoff). */
    let refusals = 0;
    let attempt = 0;
    let delay = 0;
    let connectedBefore = false;
    while (!over()) {
      let conn: Connection | undefined;
      attempt++;
      if (attempt === 1) host.connecting(target, attempt, address);
      if (OBSERVED && channels.dial.hasSubscribers) channels.dial.publish({ socket: host.socket, target, attempt, delay });
      try {
        const transport = await dial();
        if (over()) {
          transport.destroy();
          break;
        }
        conn = host.attach(transport, target, address, connectedBefore);
        kept.conn = conn;
      } catch (err) {
        if (over()) break; // cut by close() or drain: not a failure to report
        // Routine while a peer is down, so only reported to an attached
        // "error" listener (a TLS verification failure shows up here too).
        const at = address === undefined ? target : `${target} (${address})`;
        host.report(new AiomsgError("ERR_AIOMSG_CONNECT_FAILED", `connect to ${at} failed: ${(err as Error).message}`, { cause: err }));
      }
      if (conn) {
        await conn.done;
        kept.conn = undefined;
        if (conn.openedAt > 0) connectedBefore = true;
        const refused = this.refused(conn) || (STREAMS && kept.park !== undefined && conn.closeReason?.code === "ERR_AIOMSG_DUPLICATE_IDENTITY");
        refusals = refused ? refusals + 1 : 0;
        // A silent refusal (no byte from the peer): ask once per streak what the peer really is (a TLS port?).
        if (STREAMS && refusals === 1 && kept.diagnose !== undefined && conn.closeReason?.code === "ERR_AIOMSG_REFUSED" && !conn.heardAnything && !over()) {
          const found = await kept.diagnose().catch(() => undefined);
          if (found !== undefined && !over()) host.report(found, conn);
        }
        if (STREAMS && refused && kept.park !== undefined && !over()) {
          // One replica behind two addresses: wait for the set to change rather than redial.
          if (DEBUG) debug("%s (%s) refused: parked until the set changes", target, address);
          await kept.park(kept);
          refusals = 0;
          continue;
        }
      }
      if (over()) break;
      let ms = 0;
      try {
        ms = Number(host.reconnectionDelay());
      } catch (err) {
        if (DEBUG) debug("reconnectionDelay threw: %s", (err as Error).message);
      }
      ms = Number.isFinite(ms) && ms > 0 ? ms : 0;
      if (refusals > 0) ms = Math.max(ms, refusalBackoff(refusals));
      delay = ms;
      host.reconnecting(target, attempt + 1, ms, address);
      await kept.wake.sleep(ms, undefined, undefined);
    }
  }

  /**
   * Whether a connect end's connection ended as a refusal: closed before the
   * peer greeted (ERR_AIOMSG_REFUSED, already reported: a TS bind end refuses
   * so), or dropped at heartbeatTimeout with nothing received after the
   * handshake (a Python 2026.7.1 bind end greets, then leaves a duplicate
   * identity's connection open and never reads or heartbeats on it; every
   * live aiomsg peer heartbeats).
   */
  private refused(conn: Connection): boolean {
    const host = this.host;
    const reason = conn.closeReason;
    // Refused, or not an aiomsg peer at all, or one whose handshake failed:
    // dialling it again at once would fail the same way.
    if (reason !== undefined && reason.code !== "ERR_AIOMSG_REFUSED" && conn.openedAt === 0 && reason instanceof ProtocolError) return true;
    // A gated peer that closed before sending anything after its HELLO refused this end's token.
    if (host.sendsToken && !host.closed() && conn.openedAt > 0 && conn.framesAfterHello === 0 && (reason === undefined || reason.code === "ERR_AIOMSG_PEER_LOST")) {
      const err = new AiomsgError("ERR_AIOMSG_NOT_ADMITTED", `${conn.remote} closed the connection after the handshake without a word: it probably refused this end's admissionToken`);
      if (OBSERVED && channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: err });
      host.report(err, conn);
      return true;
    }
    if (reason?.code === "ERR_AIOMSG_REFUSED") {
      if (OBSERVED && channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: reason });
      return true;
    }
    if (host.closed() || conn.openedAt === 0 || conn.framesAfterHello > 0 || reason?.code !== "ERR_AIOMSG_HEARTBEAT_TIMEOUT") return false;
    const lived = Math.round(conn.closedAt - conn.openedAt);
    const err = new AiomsgError(
      "ERR_AIOMSG_REFUSED",
      `${conn.remote} sent nothing after its HELLO for ${lived} ms: it probably refused this peer (a Python bind end does so for an identity already connected)`,
    );
    if (OBSERVED && channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: err });
    host.report(err, conn);
    return true;
  }
}
