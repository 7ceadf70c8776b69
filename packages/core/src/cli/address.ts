/**
 * ADDR on the command line: `host:port`, `[v6]:port` or a URL. Every scheme the
 * tool knows is listed here, so a new transport is one entry (and its handling
 * where the address is used).
 */
import { CliUsageError } from "./common.js";

export interface Address {
  scheme: "tcp";
  host: string;
  port: number;
}

/** Schemes that parse today, and those reserved for a later transport (with the reason shown). */
const SCHEMES: Record<string, { supported: true } | { supported: false; why: string }> = {
  tcp: { supported: true },
  ws: { supported: false, why: "ws:// addresses come with the WebSocket transport, which this version does not have yet" },
  wss: { supported: false, why: "wss:// addresses come with the WebSocket transport, which this version does not have yet" },
};

export function parseAddress(text: string, flag: string): Address {
  let rest = text;
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(text);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    const known = SCHEMES[scheme];
    if (!known) {
      throw new CliUsageError(`${flag} ${text}: unknown scheme ${scheme}:// (use host:port or tcp://host:port)`);
    }
    if (!known.supported) throw new CliUsageError(`${flag} ${text}: ${known.why}; use host:port or tcp://host:port`);
    rest = m[2]!.replace(/\/$/, "");
  }
  const hp = /^(?:\[([^\]]+)\]|([^:/[\]]*)):(\d{1,5})$/.exec(rest);
  if (!hp) throw new CliUsageError(`${flag} ${text}: expected host:port or tcp://host:port`);
  const host = hp[1] ?? hp[2]!;
  const port = Number(hp[3]);
  if (port > 65535) throw new CliUsageError(`${flag} ${text}: port ${port} is out of range (0-65535)`);
  if (host === "") throw new CliUsageError(`${flag} ${text}: the host is missing (e.g. 127.0.0.1:${port})`);
  return { scheme: "tcp", host, port };
}

export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
