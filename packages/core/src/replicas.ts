/**
 * A replica set: a connect end that follows every address behind one name
 * (docs/fleet.md). It resolves the name (how is given: DNS A/AAAA or SRV on
 * Node, transports/dns.ts), keeps one connection per address (redial.ts),
 * re-resolves when the records' TTL runs out (bounded, with jitter), dials
 * addresses that appear, and drains, never cuts, those that leave. A
 * failed resolution is retried with backoff and reported
 * (ERR_AIOMSG_RESOLVE_FAILED); the last good set is kept meanwhile, and an
 * empty answer counts as a failure, so a name that stops resolving for a
 * while costs no connection. A refused address (one replica reached at two
 * addresses is one identity, which gets one connection) is parked until
 * the set changes instead of being redialled in a loop.
 */
import { AiomsgError } from "./errors.js";
import { DEBUG, debug } from "./log.js";
import type { Kept } from "./redial.js";
import type { TargetStats } from "./socket-types.js";
import { WaitList } from "./wait.js";

/** One address behind the name, with its record's TTL (seconds). */
export interface ResolvedAddress {
  host: string;
  port: number;
  ttl: number;
  /** The host name it was found under (an SRV target: TLS checks its certificate against it). */
  name?: string;
}

/** When to resolve again, in ms: the TTL clamped to [min, max], then +-jitter (a fraction). */
export interface RefreshBounds {
  min: number;
  max: number;
  jitter: number;
}

export interface ReplicaSetHost {
  /** The socket is closing or draining. */
  closed(): boolean;
  /** Keep a connection to `address` (its redial loop parks in `park` when refused). */
  keep(address: ResolvedAddress, key: string, park: (kept: Kept) => Promise<void>): Kept;
  /** `kept`'s address left: drain its connection; resolves once it is closed. */
  drain(kept: Kept): Promise<void>;
  report(err: AiomsgError): void;
  resolved(event: { target: string; addresses: string[]; added: string[]; removed: string[]; ttl: number }): void;
}

/** "host:port", brackets around an IPv6 host. */
export function addressKey(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export class ReplicaSet {
  private readonly members = new Map<string, Kept>();
  /** Addresses whose connection drains (left the set): not dialled again until it has closed. */
  private readonly leaving = new Map<string, Promise<void>>();
  private readonly parked = new Set<string>();
  private resolvedAt = 0;
  private failures = 0;
  private lastError: AiomsgError | undefined;
  private stopped = false;
  /** The resolve loop's wait. */
  private readonly sleeper = new WaitList<void>();
  /** Parked loops' wait: woken when the set changes. */
  private readonly changed = new WaitList<void>();
  private loop: Promise<void> = Promise.resolve();

  constructor(
    readonly target: string,
    private readonly resolve: () => Promise<ResolvedAddress[]>,
    private readonly bounds: RefreshBounds,
    private readonly host: ReplicaSetHost,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Resolve no more; wake parked loops (the socket stops the connections). Resolves when the loop and drains are done. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.wakeAll();
    this.changed.wakeAll();
    await this.loop;
    await Promise.all(this.leaving.values());
  }

  /** Resolve now (a test, or an operator who knows the records changed). */
  refresh(): void {
    this.sleeper.wakeAll();
  }

  stats(): TargetStats {
    const out: TargetStats = {
      target: this.target,
      addresses: [...this.members.keys()],
      draining: [...this.leaving.keys()],
      parked: [...this.parked],
      resolvedAt: this.resolvedAt,
      failures: this.failures,
    };
    if (this.lastError !== undefined && this.failures > 0) out.error = this.lastError;
    return out;
  }

  private over(): boolean {
    return this.stopped || this.host.closed();
  }

  private async run(): Promise<void> {
    while (!this.over()) {
      let ms: number;
      try {
        const found = await this.resolve();
        if (this.over()) break;
        if (found.length === 0) throw new Error("the name has no addresses");
        const ttl = Math.min(...found.map((a) => a.ttl));
        this.apply(found, ttl);
        this.failures = 0;
        ms = Number.isFinite(ttl) ? ttl * 1000 : this.bounds.max;
      } catch (err) {
        if (this.over()) break;
        this.failures++;
        const kept = this.members.size;
        this.lastError = new AiomsgError(
          "ERR_AIOMSG_RESOLVE_FAILED",
          `resolving ${this.target} failed (${(err as { code?: string }).code ?? (err as Error).message}, attempt ${this.failures}); ` +
            `keeping the last ${kept} address${kept === 1 ? "" : "es"}`,
          { cause: err },
        );
        this.host.report(this.lastError);
        // Backoff: min, doubled per failure, at most max.
        ms = this.bounds.min * 2 ** Math.min(this.failures - 1, 16);
      }
      ms = Math.min(this.bounds.max, Math.max(this.bounds.min, ms));
      ms *= 1 + this.bounds.jitter * (2 * Math.random() - 1);
      await this.sleeper.sleep(ms, undefined, undefined);
    }
  }

  private apply(found: ResolvedAddress[], ttl: number): void {
    const first = this.resolvedAt === 0;
    this.resolvedAt = Date.now();
    const now = new Map<string, ResolvedAddress>();
    for (const a of found) now.set(addressKey(a), a);
    const added: string[] = [];
    const removed: string[] = [];
    for (const [key, kept] of this.members) {
      if (now.has(key)) continue;
      removed.push(key);
      this.members.delete(key);
      this.parked.delete(key);
      kept.stop();
      const drained = this.host
        .drain(kept)
        .catch((err: unknown) => {
          if (DEBUG) debug("draining %s failed: %s", key, (err as Error).message);
        })
        .then(() => kept.ended)
        .finally(() => this.leaving.delete(key));
      this.leaving.set(key, drained);
    }
    for (const [key, a] of now) {
      // Back in the set while its old connection drains: dialled at the next resolution.
      if (this.members.has(key) || this.leaving.has(key)) continue;
      added.push(key);
      this.members.set(key, this.host.keep(a, key, this.park));
    }
    if (added.length > 0 || removed.length > 0) this.changed.wakeAll();
    if (first || added.length > 0 || removed.length > 0) {
      if (DEBUG) debug("%s resolved: %s (+%s -%s)", this.target, [...now.keys()].join(" "), added.join(" "), removed.join(" "));
      this.host.resolved({ target: this.target, addresses: [...now.keys()], added, removed, ttl });
    }
  }

  /** A refused address waits here, without dialling, until the set changes (or at most bounds.max). */
  private readonly park = async (kept: Kept): Promise<void> => {
    const key = kept.address!;
    this.parked.add(key);
    try {
      await this.changed.sleep(this.bounds.max, undefined, undefined);
    } finally {
      this.parked.delete(key);
    }
  };
}
