/**
 * Name resolution for a connect end that follows every replica behind a
 * name (replicas.ts, docs/fleet.md): A and AAAA records with their TTLs
 * (`resolve: "all"`), or SRV records (`srv://`), each target resolved the
 * same way. Node's dns.resolve* asks the DNS servers of /etc/resolv.conf
 * (or a Resolver you configure) and returns TTLs; it does not read
 * /etc/hosts (dns.lookup does, but gives no TTL, so a changing set could
 * not be followed). A name given as an IP address is that one address.
 */
import { promises as dnsPromises } from "node:dns";
import * as net from "node:net";
import type { ResolvedAddress } from "../replicas.js";

/** The part of node:dns's promises Resolver this uses (pass your own, e.g. with setServers()). */
export type DnsResolver = Pick<dnsPromises.Resolver, "resolve4" | "resolve6" | "resolveSrv">;

/** Which address families are dialled: 4 (A), 6 (AAAA), or "both" (the default). */
export type AddressFamily = 4 | 6 | "both";

/** TTL given to an SRV answer, whose own TTL Node does not expose: its targets' address TTLs decide. */
const NO_TTL = Number.POSITIVE_INFINITY;

/** The addresses of `name` (A and/or AAAA) on `port`, each with its TTL in seconds. */
export async function resolveHost(resolver: DnsResolver, name: string, port: number, family: AddressFamily): Promise<ResolvedAddress[]> {
  if (net.isIP(name) !== 0) return [{ host: name, port, ttl: NO_TTL }];
  const asks: Array<Promise<ResolvedAddress[]>> = [];
  if (family !== 6) asks.push(resolver.resolve4(name, { ttl: true }).then((rs) => rs.map((r) => ({ host: r.address, port, ttl: r.ttl, name }))));
  if (family !== 4) asks.push(resolver.resolve6(name, { ttl: true }).then((rs) => rs.map((r) => ({ host: r.address, port, ttl: r.ttl, name }))));
  const results = await Promise.allSettled(asks);
  const out: ResolvedAddress[] = [];
  for (const r of results) if (r.status === "fulfilled") out.push(...r.value);
  // One family without records is normal; both failing is the name failing.
  if (out.length === 0) {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
  return out;
}

/**
 * Every address behind the SRV records of `name` (e.g. "_aiomsg._tcp.svc"):
 * each record's target resolved with resolveHost, on the record's port.
 * Priority and weight are not used: every record is a replica to keep a
 * connection to. A target that fails to resolve is left out (reported
 * through the error it threw when none resolves).
 */
export async function resolveSrv(resolver: DnsResolver, name: string, family: AddressFamily): Promise<ResolvedAddress[]> {
  const records = await resolver.resolveSrv(name);
  const results = await Promise.allSettled(records.map((r) => resolveHost(resolver, r.name, r.port, family)));
  const out: ResolvedAddress[] = [];
  for (const r of results) if (r.status === "fulfilled") out.push(...r.value);
  if (out.length === 0 && records.length > 0) {
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }
  return out;
}

export function defaultResolver(): DnsResolver {
  return new dnsPromises.Resolver();
}
