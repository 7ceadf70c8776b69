/**
 * ADDR on the command line: `host:port`, `[v6]:port` or a URL. Every scheme the
 * tool knows is listed here, so a new transport is one entry (and its handling
 * where the address is used).
 */
import { CliUsageError } from "./common.js";

export type Scheme = "tcp" | "ws" | "wss";

export interface Address {
  scheme: Scheme;
  host: string;
  port: number;
  /** Request target of a WebSocket upgrade ("/" for tcp). */
  path: string;
}

/** Who uses the address: a connect end dials it, a bind end listens on it, ping probes raw TCP. */
export type AddressUse = "connect" | "bind" | "probe";

/** Why a scheme is refused for a use (absent: accepted). */
const SCHEMES: Record<Scheme, Partial<Record<AddressUse, string>>> = {
  tcp: {},
  ws: {
    bind: "a bind end serves WebSocket clients on its own port already: bind host:port and let them connect with ws://",
    probe: "ping probes over raw TCP; a bind end serves WebSocket on the same port, so ping host:port",
  },
  wss: {
    bind: "a TLS bind end serves wss:// clients on its own port already: bind host:port with --tls-cert/--tls-key",
    probe: "ping probes over raw TCP (or TLS with --tls); a bind end serves wss:// on the same port, so ping host:port --tls",
  },
};

export function parseAddress(text: string, flag: string, use: AddressUse = "connect"): Address {
  let rest = text;
  let scheme: Scheme = "tcp";
  let path = "/";
  const forms = use === "connect" ? "host:port, tcp://host:port, ws://host:port/path or wss://host:port/path" : "host:port or tcp://host:port";
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(text);
  if (m) {
    const name = m[1]!.toLowerCase();
    if (!(name in SCHEMES)) throw new CliUsageError(`${flag} ${text}: unknown scheme ${name}:// (use ${forms})`);
    scheme = name as Scheme;
    const refused = SCHEMES[scheme][use];
    if (refused) throw new CliUsageError(`${flag} ${text}: ${refused}`);
    rest = m[2]!;
    if (scheme === "tcp") {
      rest = rest.replace(/\/$/, "");
    } else {
      const slash = rest.search(/[/?]/);
      if (slash >= 0) {
        path = rest.slice(slash);
        if (!path.startsWith("/")) path = `/${path}`;
        rest = rest.slice(0, slash);
      }
      if (/[\s#]/.test(path)) throw new CliUsageError(`${flag} ${text}: the path may not contain spaces or a fragment`);
    }
  }
  const hp = /^(?:\[([^\]]+)\]|([^:/[\]]*)):(\d{1,5})$/.exec(rest);
  if (!hp) throw new CliUsageError(`${flag} ${text}: expected ${forms}`);
  const host = hp[1] ?? hp[2]!;
  const port = Number(hp[3]);
  if (port > 65535) throw new CliUsageError(`${flag} ${text}: port ${port} is out of range (0-65535)`);
  if (host === "") throw new CliUsageError(`${flag} ${text}: the host is missing (e.g. 127.0.0.1:${port})`);
  return { scheme, host, port, path };
}

/** host:port for tcp, the URL for ws:// and wss://. */
export function formatAddress(a: { host: string; port: number; scheme?: Scheme; path?: string }): string {
  const hp = a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  return a.scheme === "ws" || a.scheme === "wss" ? `${a.scheme}://${hp}${a.path ?? "/"}` : hp;
}

/** The URL Socket.connect() takes for a ws:// or wss:// address. */
export function connectUrl(a: Address): string {
  return formatAddress(a);
}
