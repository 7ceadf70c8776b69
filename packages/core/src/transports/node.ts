/**
 * Dialling and listening on Node: TCP, TLS, ws:// and wss:// connect ends,
 * and bind ends that serve raw, TLS and WebSocket peers on one port. What
 * comes out is a Transport; the socket never sees a Node stream.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { AiomsgError, ProtocolError, UsageError } from "../errors.js";
import type { Transport } from "../transport.js";
import { MAX_UPGRADE_REQUEST, checkUpgradeResponse, upgradeRequest } from "../ws/frames.js";
import { StreamTransport } from "./stream.js";
import { SniffingTransport, WsClientTransport } from "./websocket.js";
import type { AddressFamily, DnsResolver } from "./dns.js";

export interface BindOptions {
  /** Serve TLS with these options (cert, key, ca, requestCert for mutual TLS, ...). */
  tls?: tls.TlsOptions;
  backlog?: number;
}

export interface ConnectOptions {
  /** Connect with TLS (ca, servername, cert/key for mutual TLS, ...). Certificates are verified by default. wss:// always uses TLS. */
  tls?: tls.ConnectionOptions;
  /** Give up one attempt after this many ms, WebSocket upgrade included (then wait reconnectionDelay). Default 1000. */
  connectTimeout?: number;
  /**
   * "first" (the default): one connection to the name, resolved by the OS at
   * each dial (dns.lookup: /etc/hosts included). "all": one connection to
   * every address behind the name, followed as the records change
   * (docs/fleet.md). An srv:// target always follows its records.
   */
  resolve?: "first" | "all";
  /** Following a name: which records are dialled: 4 (A), 6 (AAAA), or "both" (the default). */
  family?: AddressFamily;
  /**
   * Following a name: resolve again when the records' TTL runs out, clamped
   * to [min, max] ms (default 1000 and 30000), +-jitter (default 0.1); after
   * a failure, min doubled per failure up to max.
   */
  refresh?: { min?: number; max?: number; jitter?: number };
  /** Following a name: who answers (default a node:dns Resolver on the system's DNS servers), e.g. one with setServers(). */
  resolver?: DnsResolver;
}

/** Where a connect end goes: `tcp://host:port`, `ws://host:port/path`, `wss://host:port/path`, or the SRV name of `srv://_service._tcp.name`. */
export interface Endpoint {
  scheme: "tcp" | "ws" | "wss" | "srv";
  host: string;
  port: number;
  /** Request target of a WebSocket upgrade. */
  path: string;
  /** The name behind `host` when it is a resolved address: TLS checks the certificate against it, WebSocket sends it as Host. */
  servername?: string;
}

const DEFAULT_PORTS = { tcp: 25000, ws: 80, wss: 443 } as const;

/**
 * A port as the application gave it: an integer in 1..65535 for a connect
 * end, 0..65535 for a bind end (0: any free port). Anything else is a
 * mistake, thrown at the call (UsageError, ERR_AIOMSG_INVALID_OPTION).
 */
export function checkPort(port: unknown, use: "connect" | "bind"): number {
  const min = use === "bind" ? 0 : 1;
  if (typeof port !== "number" || !Number.isInteger(port) || port < min || port > 65535) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${use}() port must be an integer from ${min} to 65535, got ${typeof port === "number" ? port : typeof port}`);
  }
  return port;
}

/** A DNS name: dot-separated labels of letters, digits, '-' and '_' (at most 253 characters). */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * A host as the application gave it: an IPv4 or IPv6 address (brackets
 * allowed) or a DNS name. A malformed one ("host:25000", "my host", "") is a
 * mistake, thrown at the call; a well-formed name that does not resolve is a
 * network condition, reported while the connect end keeps trying.
 */
export function checkHost(host: unknown, use: "connect" | "bind"): string {
  if (typeof host !== "string") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${use}() host must be a string, got ${typeof host}`);
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (net.isIP(bare) !== 0 || HOSTNAME.test(bare)) return bare;
  const hint = /^[^:]+:\d+$/.test(host) ? ` (give the port as the second argument, or a URL such as tcp://${host})` : "";
  throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${use}() host ${JSON.stringify(host)} is not an IP address or a host name${hint}`);
}

/** `connect(host, port)` or `connect(url)`: the endpoint, or a UsageError saying what is wrong. */
export function parseEndpoint(hostOrUrl: string, port: number | undefined): Endpoint {
  if (typeof hostOrUrl !== "string") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `connect() takes a host or a URL, got ${typeof hostOrUrl}`);
  if (!hostOrUrl.includes("://")) {
    return { scheme: "tcp", host: checkHost(hostOrUrl, "connect"), port: port === undefined ? DEFAULT_PORTS.tcp : checkPort(port, "connect"), path: "/" };
  }
  let url: URL;
  try {
    url = new URL(hostOrUrl);
  } catch {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `not a URL: ${hostOrUrl}`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "tcp" && scheme !== "ws" && scheme !== "wss" && scheme !== "srv") {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `unsupported scheme ${url.protocol} (tcp://, ws://, wss:// or srv://)`);
  }
  if (port !== undefined) throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "give the port in the URL, not as a second argument");
  if (url.hostname === "") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${hostOrUrl}: the host is missing`);
  if (url.username !== "" || url.password !== "") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${hostOrUrl}: user info in the URL is not supported`);
  if (scheme === "srv") {
    if (url.port || (url.pathname !== "" && url.pathname !== "/") || url.search) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `srv:// takes a name only (the records give the ports): srv://_aiomsg._tcp.example, got ${hostOrUrl}`);
    }
    return { scheme, host: url.hostname, port: 0, path: "/" };
  }
  if (scheme === "tcp" && (url.pathname.replace(/^\/$/, "") !== "" || url.search !== "")) {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${hostOrUrl}: a tcp:// URL has no path`);
  }
  const host = checkHost(url.hostname, "connect");
  const p = url.port ? checkPort(Number(url.port), "connect") : DEFAULT_PORTS[scheme];
  return { scheme, host, port: p, path: `${url.pathname || "/"}${url.search}` };
}

export function describeEndpoint(ep: Endpoint): string {
  if (ep.scheme === "srv") return `srv://${ep.host}`;
  return ep.scheme === "tcp" ? `${ep.host}:${ep.port}` : `${ep.scheme}://${ep.host}:${ep.port}${ep.path}`;
}

/**
 * One connection attempt: TCP (TLS when asked, or for wss://), then for
 * ws:// and wss:// the upgrade, all within connectTimeout. Sockets being
 * dialled are in `track` so that close() can cut them.
 */
export function dial(ep: Endpoint, options: ConnectOptions, track: Set<net.Socket>): Promise<Transport> {
  const timeout = options.connectTimeout ?? 1000;
  const secure = ep.scheme === "wss" || (ep.scheme === "tcp" && options.tls !== undefined);
  return new Promise<Transport>((resolve, reject) => {
    const s = secure
      ? tls.connect({ host: ep.host, port: ep.port, servername: ep.servername ?? (net.isIP(ep.host) ? undefined : ep.host), ...options.tls })
      : // Half-open allowed: a peer's FIN (it drains) lets this end write what it holds, ACKs included, before its own FIN.
        net.connect({ host: ep.host, port: ep.port, allowHalfOpen: true });
    track.add(s);
    const timer = setTimeout(() => s.destroy(new Error(`connect timeout after ${timeout} ms`)), timeout);
    const settle = (): void => {
      clearTimeout(timer);
      track.delete(s);
      s.off("error", fail);
    };
    const fail = (err: Error): void => {
      settle();
      s.destroy();
      reject(err);
    };
    s.once("error", fail);
    s.once(secure ? "secureConnect" : "connect", () => {
      if (ep.scheme === "tcp") {
        settle();
        resolve(new StreamTransport(s));
        return;
      }
      // The WebSocket upgrade, answered within the same deadline.
      const { request, key } = upgradeRequest(`${ep.servername ?? (ep.host.includes(":") ? `[${ep.host}]` : ep.host)}:${ep.port}`, ep.path);
      let response = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        response = Buffer.concat([response, d]);
        const end = response.indexOf("\r\n\r\n", 0, "latin1");
        if (end < 0) {
          if (response.length > MAX_UPGRADE_REQUEST) fail(new ProtocolError("ERR_AIOMSG_WEBSOCKET", "WebSocket: upgrade response exceeds 8 KiB"));
          return;
        }
        s.off("data", onData);
        s.pause();
        try {
          checkUpgradeResponse(response.subarray(0, end).toString("latin1"), key);
        } catch (err) {
          fail(err as Error);
          return;
        }
        settle();
        resolve(new WsClientTransport(s, ep.scheme === "wss" ? "wss" : "ws", response.subarray(end + 4)));
      };
      s.on("data", onData);
      s.write(request);
    });
  });
}

/**
 * Whether `ep` is a TLS port: a TLS handshake that completes (certificates
 * not checked: nothing is sent over it), or a TLS alert, within 1 s. Returns
 * the ERR_AIOMSG_NOT_AIOMSG error to report, or undefined.
 */
export function tlsPortProbe(ep: Endpoint, track: Set<net.Socket>): Promise<AiomsgError | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: ep.host, port: ep.port, rejectUnauthorized: false, servername: net.isIP(ep.host) ? undefined : ep.host });
    track.add(s);
    const done = (tlsPort: boolean): void => {
      clearTimeout(timer);
      track.delete(s);
      s.destroy();
      resolve(
        tlsPort
          ? new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", `${describeEndpoint(ep)} is a TLS port and this end connects without TLS: connect with { tls } (or wss://)`)
          : undefined,
      );
    };
    const timer = setTimeout(() => done(false), 1000);
    s.once("secureConnect", () => done(true));
    s.once("error", (err: NodeJS.ErrnoException) => done(/alert|ERR_SSL_TLSV/i.test(`${err.code ?? ""} ${err.message}`) && !/wrong version number|packet length too long/i.test(err.message)));
    s.once("close", () => done(false));
  });
}

export interface ListenHost {
  /** Whether another connection may be taken (maxPeers); refuses and reports if not. */
  admit(sock: net.Socket): boolean;
  /** A bind-side transport, accepted by TCP at `acceptedAt` (performance.now()). */
  accepted(transport: Transport, acceptedAt: number): void;
  report(err: AiomsgError): void;
  handshakeTimeout(): number;
  closed(): boolean;
}

const ACCEPTED_AT = Symbol("aiomsg.acceptedAt");
const SETTLE = Symbol("aiomsg.tlsSettled");
const TIMED_OUT = Symbol("aiomsg.tlsTimedOut");
type RawTls = net.Socket & { [ACCEPTED_AT]?: number; [SETTLE]?: () => void; [TIMED_OUT]?: boolean };

/** What a bind failure's system code usually means. */
const BIND_HINTS: Record<string, string> = {
  EADDRINUSE: " (the port is in use: another process listens on it)",
  EACCES: " (not permitted: ports below 1024 need privileges)",
  EADDRNOTAVAIL: " (this machine has no such address)",
  ENOTFOUND: " (the host name does not resolve)",
  EAI_AGAIN: " (the host name could not be resolved now)",
};

/** A bound port. */
export class Listener {
  /** TLS connections accepted by TCP whose TLS handshake is not done: they count against maxPeers. */
  readonly handshaking = new Set<net.Socket>();

  private constructor(
    readonly server: net.Server,
    readonly host: string,
  ) {}

  /**
   * Listen on host:port. `sniff`: v1 and auto bind ends look at the first byte
   * for a WebSocket upgrade; a legacy bind end does not (2019 had none).
   */
  static async open(host: string, port: number, options: BindOptions, sniff: boolean, h: ListenHost): Promise<Listener> {
    const wrap = (s: net.Socket): Transport => (sniff ? new SniffingTransport(s) : new StreamTransport(s));
    let listener: Listener;
    let server: net.Server;
    if (options.tls) {
      // TCP is accepted here and handed to a TLS server that never listens, so
      // that a connection counts against maxPeers and handshakeTimeout from
      // the moment TCP accepts it, TLS handshake included.
      const tlsServer = tls.createServer(options.tls, (s) => {
        // The TLS socket wraps the raw one accepted below (Node keeps it as _parent).
        const raw = (s as tls.TLSSocket & { _parent?: RawTls })._parent;
        raw?.[SETTLE]?.();
        if (h.closed()) {
          s.destroy();
          return;
        }
        h.accepted(wrap(s), raw?.[ACCEPTED_AT] ?? performance.now());
      });
      tlsServer.on("tlsClientError", (err, s) => {
        s.destroy();
        // One report per connection: a handshake timeout was reported already.
        if ((s as tls.TLSSocket & { _parent?: RawTls })._parent?.[TIMED_OUT]) return;
        h.report(new AiomsgError("ERR_AIOMSG_PEER_LOST", `TLS handshake with ${s.remoteAddress ?? "?"} failed: ${err.message}`, { cause: err }));
      });
      server = net.createServer((raw: RawTls) => {
        if (!h.admit(raw)) return;
        raw[ACCEPTED_AT] = performance.now();
        listener.handshaking.add(raw);
        const timer = setTimeout(() => {
          raw[TIMED_OUT] = true;
          raw.destroy();
          h.report(new ProtocolError("ERR_AIOMSG_HANDSHAKE_TIMEOUT", `no TLS handshake from ${raw.remoteAddress ?? "?"} within ${h.handshakeTimeout()} ms`));
        }, h.handshakeTimeout());
        timer.unref();
        raw[SETTLE] = () => {
          clearTimeout(timer);
          listener.handshaking.delete(raw);
        };
        raw.once("close", raw[SETTLE]);
        tlsServer.emit("connection", raw);
      });
    } else {
      server = net.createServer({ allowHalfOpen: true }, (s) => {
        if (h.admit(s) && !s.destroyed) h.accepted(wrap(s), performance.now());
      });
    }
    listener = new Listener(server, host);
    // A failure to listen rejects bind() (once, coded); errors after that are the listener's.
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException): void => {
        const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
        reject(new AiomsgError("ERR_AIOMSG_BIND_FAILED", `cannot listen on ${where}: ${err.code ?? err.message}${BIND_HINTS[err.code ?? ""] ?? ""}`, { cause: err }));
      };
      server.once("error", fail);
      server.listen({ host, port, backlog: options.backlog }, () => {
        server.off("error", fail);
        resolve();
      });
    });
    server.on("error", (err) => h.report(new AiomsgError("ERR_AIOMSG_PEER_LOST", `listener error: ${err.message}`, { cause: err })));
    return listener;
  }

  get port(): number | undefined {
    const addr = this.server.address();
    return addr && typeof addr === "object" ? addr.port : undefined;
  }

  /** Stop accepting; connections not yet past their TLS handshake are cut. */
  close(): Promise<void> {
    for (const raw of this.handshaking) raw.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
