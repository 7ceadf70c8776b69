/**
 * Redial: a connect end keeps its connection for the life of the socket.
 * After each connection ends (or a dial fails) it waits reconnectionDelay
 * and dials again; after consecutive refusals it backs off (refusalBackoff),
 * so a peer that refuses this one is not hammered. A connection whose
 * handshake failed (not an aiomsg peer, a bad or silent greeting) counts as
 * a refusal. close() wakes the waits
 * and ends the loops.
 */
import { AiomsgError, ProtocolError } from "./errors.js";
import { debug } from "./log.js";
import { channels } from "./observe.js";
import type { Connection } from "./connection.js";
import type { Transport } from "./transport.js";
import { WaitList } from "./wait.js";

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
  /** A connection over `transport` to `target`; `reconnect` when this end had been connected before. */
  attach(transport: Transport, target: string, reconnect: boolean): Connection;
  connecting(target: string, attempt: number): void;
  reconnecting(target: string, attempt: number, delay: number): void;
  report(err: AiomsgError, conn?: Connection): void;
}

export class Redial {
  private readonly sleepers = new WaitList<void>();
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly host: RedialHost) {}

  /** Keep a connection made by `dial` to `target` (which names the peer in errors and events). */
  keep(target: string, dial: () => Promise<Transport>): void {
    this.loops.push(this.loop(target, dial));
  }

  /** close(): wake every wait; resolves when every loop has ended. */
  stop(): Promise<void[]> {
    this.sleepers.wakeAll();
    return Promise.all(this.loops);
  }

  private async loop(target: string, dial: () => Promise<Transport>): Promise<void> {
    const host = this.host;
    /** Consecutive attempts the peer refused: each doubles the wait (see refusalBackoff). */
    let refusals = 0;
    let attempt = 0;
    let delay = 0;
    let connectedBefore = false;
    while (!host.closed()) {
      let conn: Connection | undefined;
      attempt++;
      if (attempt === 1) host.connecting(target, attempt);
      if (channels.dial.hasSubscribers) channels.dial.publish({ socket: host.socket, target, attempt, delay });
      try {
        const transport = await dial();
        if (host.closed()) {
          transport.destroy();
          break;
        }
        conn = host.attach(transport, target, connectedBefore);
      } catch (err) {
        if (host.closed()) break; // cut by close(): not a failure to report
        // Routine while a peer is down, so only reported to an attached
        // "error" listener (a TLS verification failure shows up here too).
        host.report(new AiomsgError("ERR_AIOMSG_CONNECT_FAILED", `connect to ${target} failed: ${(err as Error).message}`, { cause: err }));
      }
      if (conn) {
        await conn.done;
        if (conn.openedAt > 0) connectedBefore = true;
        refusals = this.refused(conn) ? refusals + 1 : 0;
      }
      if (host.closed()) break;
      let ms = 0;
      try {
        ms = Number(host.reconnectionDelay());
      } catch (err) {
        debug("reconnectionDelay threw: %s", (err as Error).message);
      }
      ms = Number.isFinite(ms) && ms > 0 ? ms : 0;
      if (refusals > 0) ms = Math.max(ms, refusalBackoff(refusals));
      delay = ms;
      host.reconnecting(target, attempt + 1, ms);
      await this.sleepers.sleep(ms, undefined, undefined);
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
      if (channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: err });
      host.report(err, conn);
      return true;
    }
    if (reason?.code === "ERR_AIOMSG_REFUSED") {
      if (channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: reason });
      return true;
    }
    if (host.closed() || conn.openedAt === 0 || conn.framesAfterHello > 0 || reason?.code !== "ERR_AIOMSG_HEARTBEAT_TIMEOUT") return false;
    const lived = Math.round(conn.closedAt - conn.openedAt);
    const err = new AiomsgError(
      "ERR_AIOMSG_REFUSED",
      `${conn.remote} sent nothing after its HELLO for ${lived} ms: it probably refused this peer (a Python bind end does so for an identity already connected)`,
    );
    if (channels.refused.hasSubscribers) channels.refused.publish({ socket: host.socket, remote: conn.remote, error: err });
    host.report(err, conn);
    return true;
  }
}
