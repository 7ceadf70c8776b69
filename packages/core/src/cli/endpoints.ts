/**
 * --bind / --connect: where a command's socket listens or dials, with the TLS
 * flags applied the way each end needs them.
 */
import type * as tls from "node:tls";
import { AiomsgError, UsageError, type Socket } from "../index.js";
import { connectUrl, formatAddress, parseAddress, type Address } from "./address.js";
import { bindTls, CliFailure, CliUsageError, connectTls, secondsFlag, type FlagValues, type TlsFlags } from "./common.js";

export interface Endpoints {
  binds: Address[];
  connects: Address[];
}

export const ENDPOINT_OPTIONS = {
  bind: { type: "string", multiple: true },
  connect: { type: "string", multiple: true },
  "handshake-timeout": { type: "string" },
} as const;

export const HANDSHAKE_HELP = `  --handshake-timeout S  a connection must complete its handshake within S seconds
                         (default 15); a connect end whose peer stays silent that long
                         names it ERR_AIOMSG_NOT_AIOMSG and backs off`;

/** --handshake-timeout as the socket's handshakeTimeout option (ms), absent when not given. */
export function handshakeFlag(values: FlagValues): { handshakeTimeout?: number } {
  const ms = secondsFlag(values["handshake-timeout"] as string | undefined, "--handshake-timeout");
  if (ms === undefined) return {};
  if (ms <= 0) throw new CliUsageError("--handshake-timeout must be above 0");
  return { handshakeTimeout: ms };
}

export function endpointFlags(values: FlagValues): Endpoints {
  const binds = ((values.bind as string[] | undefined) ?? []).map((a) => parseAddress(a, "--bind", "bind"));
  const connects = ((values.connect as string[] | undefined) ?? []).map((a) => parseAddress(a, "--connect"));
  if (binds.length + connects.length === 0) throw new CliUsageError("give --connect ADDR or --bind ADDR");
  return { binds, connects };
}

/** Binds and connects; returns the bound addresses (real ports after port 0). */
export async function openEndpoints(sock: Socket, ep: Endpoints, tls: TlsFlags | undefined): Promise<string[]> {
  const listening: string[] = [];
  let last: { host: string; port: number } | undefined;
  const onListening = (l: { host: string; port: number }): void => void (last = l);
  sock.on("listening", onListening);
  const bindOpts = bindTls(ep.binds.length ? tls : undefined);
  const connectOpts = connectTls(ep.connects.length ? tls : undefined);
  try {
    for (const a of ep.binds) {
      last = undefined;
      try {
        await sock.bind(a.host, a.port, bindOpts ? { tls: bindOpts } : {});
      } catch (err) {
        // The socket's own error says where and why (ERR_AIOMSG_BIND_FAILED, the system code in its message).
        if (err instanceof AiomsgError) throw new CliFailure(`${err.code}: ${err.message}`);
        throw new CliFailure(`cannot listen on ${formatAddress(a)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      listening.push(formatAddress(last ?? a));
    }
  } finally {
    sock.off("listening", onListening);
  }
  for (const a of ep.connects) await connectTo(sock, a, connectOpts);
  return listening;
}

/**
 * Dials one ADDR: host:port and tcp:// over TCP (TLS with the TLS flags),
 * ws:// and wss:// as a WebSocket client (wss:// verifies certificates, the
 * system's CAs unless --tls-ca).
 */
export async function connectTo(sock: Socket, a: Address, tlsOpts: tls.ConnectionOptions | undefined): Promise<void> {
  if (a.scheme === "ws" && tlsOpts) {
    throw new CliUsageError(`${formatAddress(a)}: ws:// is plain WebSocket; use wss:// with TLS flags`);
  }
  try {
    if (a.scheme === "tcp") await sock.connect(a.host, a.port, tlsOpts ? { tls: tlsOpts } : {});
    else await sock.connect(connectUrl(a), a.scheme === "wss" ? { tls: tlsOpts ?? {} } : {});
  } catch (err) {
    // What the socket refuses (a 2019 wire over WebSocket) is a usage error here.
    if (err instanceof UsageError) throw new CliUsageError(`${formatAddress(a)}: ${err.message}`);
    throw err;
  }
}

/** Peer comings and goings as stderr lines (diagnostics, never stdout). */
export function logPeers(sock: Socket, say: (text: string) => void): void {
  sock.on("peerConnected", (p) => say(`peer ${p.identity.toString("hex")} connected (${p.protocol}${p.transport === "ws" || p.transport === "wss" ? ` over ${p.transport}` : ""}, ${p.direction} ${p.remote})`));
  sock.on("peerDisconnected", (p) =>
    say(`peer ${p.identity.toString("hex")} disconnected (${p.reason ? p.reason.code : "orderly"})`),
  );
  // Network trouble (refused connects, bad peers) is reported, not thrown. A
  // connect end retries every 100 ms: say the same thing once, not ten times a second.
  let last = "";
  sock.on("peerConnected", () => void (last = ""));
  sock.on("error", (err) => {
    // A dial that close() cut is the command ending, not network trouble.
    if (sock.closed) return;
    const text = `${err.code}: ${err.message}`;
    if (text === last) return;
    last = text;
    say(err.code === "ERR_AIOMSG_CONNECT_FAILED" ? `${text} (retrying)` : text);
  });
  logBackoff(sock, say);
}

/**
 * A connect end backing off (a peer that refuses it, or is not aiomsg): each
 * new wait once, so the operator sees it slow down instead of a flood.
 */
export function logBackoff(sock: Socket, say: (text: string) => void): void {
  let lastDelay = 0;
  sock.on("peerConnected", () => void (lastDelay = 0));
  sock.on("reconnecting", (r) => {
    if (sock.closed || r.delay <= BASE_RECONNECT_MS || r.delay === lastDelay) return;
    lastDelay = r.delay;
    say(`backing off: next attempt to ${r.target} in ${r.delay} ms`);
  });
}

/** The commands' reconnectionDelay (the socket's default). */
const BASE_RECONNECT_MS = 100;
