/**
 * The Node Socket: a SocketBase (routing, flow control, reliability) that
 * binds and dials over Node's network: TCP and TLS, and WebSocket (ws://,
 * wss://) both as the sniffed bind port and as a connect end; a connect end
 * may follow every replica behind a DNS name (replicas.ts, transports/dns.ts).
 */
import type * as net from "node:net";
import { AiomsgError, UsageError } from "./errors.js";
import { DEBUG, debug, hex } from "./log.js";
import { SocketBase } from "./socket-base.js";
import { encode as msgpackEncode, decode as msgpackDecode } from "@msgpack/msgpack";
import { useMsgpack } from "./msgpack.js";
import type { Transport } from "./transport.js";
import { dialectFor } from "./wire/dialects.js";
import { Listener, checkHost, checkPort, describeEndpoint, dial, parseEndpoint, tlsPortProbe, type BindOptions, type ConnectOptions, type Endpoint } from "./transports/node.js";
import { defaultResolver, resolveHost, resolveSrv } from "./transports/dns.js";
import { ReplicaSet, type RefreshBounds } from "./replicas.js";
import type { TargetStats } from "./socket-types.js";

// Node has @msgpack/msgpack as a dependency: sendMsgpack()/recvMsgpack() work without a call (the browser bundle leaves it out, see msgpack.ts).
useMsgpack({ encode: msgpackEncode, decode: msgpackDecode });

export type { BindOptions, ConnectOptions } from "./transports/node.js";
export type { AddressFamily, DnsResolver } from "./transports/dns.js";

export class Socket extends SocketBase {
  readonly #listeners: Listener[] = [];
  /** Sockets being dialled, cut by close(). */
  readonly #dialing = new Set<net.Socket>();
  /** Names followed by connect() (resolve "all", srv://). */
  readonly #sets: ReplicaSet[] = [];

  /** Port of the first bound listener (useful after binding port 0). */
  get port(): number | undefined {
    return this.#listeners[0]?.port;
  }

  /**
   * Listen for peers. May be called several times (several addresses), or
   * given several hosts at once, as Python's `bind(hosts, port)` takes a
   * list: each host listens on `port` (port 0: each its own free port); if
   * one cannot, those already opened by this call are closed and the call
   * rejects. A malformed host or a port outside 0..65535 throws at the call
   * (ERR_AIOMSG_INVALID_OPTION); a port that cannot be listened on (in use,
   * not permitted) rejects with ERR_AIOMSG_BIND_FAILED, the system error as
   * its `cause`. A v1 or auto bind end also serves WebSocket clients (ws://, and
   * wss:// with TLS) on the same port, as Python 2026.7.1 does.
   */
  async bind(host: string | readonly string[] = "127.0.0.1", port = 25000, options: BindOptions = {}): Promise<this> {
    if (this.closing) throw new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
    const given = typeof host === "string" ? [host] : Array.isArray(host) ? [...(host as string[])] : [];
    if (given.length === 0 || given.some((h) => typeof h !== "string")) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "bind() takes a host or a non-empty array of hosts");
    }
    const hosts = given.map((h) => checkHost(h, "bind"));
    checkPort(port, "bind");
    // Sniff for WebSocket upgrades unless the wire has no WebSocket (a legacy bind end greets at once).
    const sniff = this.protocol === "auto" || dialectFor(this.protocol).websocket;
    const opened: Listener[] = [];
    try {
      for (const h of hosts) opened.push(await Listener.open(h, port, options, sniff, this.#listenHost));
    } catch (err) {
      await Promise.all(opened.map((l) => l.close()));
      throw err;
    }
    for (let i = 0; i < opened.length; i++) {
      const listener = opened[i]!;
      this.#listeners.push(listener);
      if (DEBUG) debug("socket %s bound to %s:%d", hex(this.identity), hosts[i], listener.port);
      this.safeEmit("listening", { host: hosts[i]!, port: listener.port! });
    }
    return this;
  }

  /** Every bound address (host as given, and the port it listens on). */
  get addresses(): Array<{ host: string; port: number }> {
    return this.#listeners.map((l) => ({ host: l.host, port: l.port! }));
  }

  /**
   * Keep a connection to a peer for the life of the socket, reconnecting
   * after `reconnectionDelay`: `connect(host, port)`, or a URL:
   * `tcp://host:port`, `ws://host:port/path`, `wss://host:port/path`.
   * Returns at once (messages sent meanwhile are buffered). May be called for
   * several peers. A malformed host or URL, or a port outside 1..65535,
   * throws at the call (ERR_AIOMSG_INVALID_OPTION); a name that does not
   * resolve is a network condition (`error` events, ERR_AIOMSG_CONNECT_FAILED,
   * while it keeps trying). With `{ resolve: "all" }`, or to
   * `srv://_service._tcp.name`, it keeps a connection to every address
   * behind the name and follows the records (docs/fleet.md).
   */
  async connect(host?: string, port?: number, options?: ConnectOptions): Promise<this>;
  async connect(url: string, options?: ConnectOptions): Promise<this>;
  async connect(host = "127.0.0.1", portOrOptions?: number | ConnectOptions, options: ConnectOptions = {}): Promise<this> {
    if (this.closing) throw new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
    let port: number | undefined;
    if (typeof portOrOptions === "object" && portOrOptions !== null) options = portOrOptions;
    else if (portOrOptions !== undefined) port = checkPort(portOrOptions, "connect");
    const timeout = options.connectTimeout;
    if (timeout !== undefined && !(typeof timeout === "number" && timeout > 0)) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `connectTimeout must be a positive number of ms, got ${String(timeout)}`);
    }
    const ep = parseEndpoint(host, port);
    if ((ep.scheme === "ws" || ep.scheme === "wss") && this.protocol !== "auto" && !dialectFor(this.protocol).websocket) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `${ep.scheme}:// cannot carry the ${this.protocol} wire (2019 aiomsg had no WebSocket transport)`);
    }
    const resolve = options.resolve ?? "first";
    if (resolve !== "first" && resolve !== "all") {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `connect() resolve must be "first" or "all", got ${String(resolve)}`);
    }
    if (ep.scheme === "srv" || resolve === "all") this.#follow(ep, options);
    else {
      // A plain TCP connect end hung up on in silence may be dialling a TLS port: find out once per streak.
      const diagnose = ep.scheme === "tcp" && options.tls === undefined ? () => tlsPortProbe(ep, this.#dialing) : undefined;
      this.keepConnected(describeEndpoint(ep), () => dial(ep, options, this.#dialing), undefined, undefined, diagnose);
    }
    return this;
  }

  /** connect() to a name it follows: a replica set (replicas.ts) whose addresses are each kept connected. */
  #follow(ep: Endpoint, options: ConnectOptions): void {
    const family = options.family ?? "both";
    if (family !== 4 && family !== 6 && family !== "both") {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `connect() family must be 4, 6 or "both", got ${String(family)}`);
    }
    const bounds = refreshBounds(options.refresh);
    const resolver = options.resolver ?? defaultResolver();
    const target = describeEndpoint(ep);
    const resolve = ep.scheme === "srv" ? () => resolveSrv(resolver, ep.host, family) : () => resolveHost(resolver, ep.host, ep.port, family);
    const set = new ReplicaSet(target, resolve, bounds, {
      closed: () => this.closing,
      keep: (a, key, park) => {
        const to: Endpoint = { ...ep, scheme: ep.scheme === "srv" ? "tcp" : ep.scheme, host: a.host, port: a.port, servername: a.name };
        return this.keepConnected(target, () => dial(to, options, this.#dialing), key, park);
      },
      drain: (kept) => (kept.conn === undefined ? Promise.resolve() : this.drainConnection(kept.conn, this.drainTimeout)),
      report: (err) => this.report(err),
      resolved: (event) => this.safeEmit("resolved", event),
    });
    this.#sets.push(set);
    set.start();
  }

  protected override targetStats(): TargetStats[] {
    return this.#sets.map((s) => s.stats());
  }

  /** What the listeners need from the socket. */
  readonly #listenHost = {
    admit: (s: net.Socket): boolean => {
      if (this.closedFlag) {
        s.destroy();
        return false;
      }
      let handshaking = 0;
      for (const l of this.#listeners) handshaking += l.handshaking.size;
      if (this.connectionCount + handshaking >= this.maxPeers) {
        s.on("error", () => undefined);
        s.destroy();
        this.report(new AiomsgError("ERR_AIOMSG_MAX_PEERS", `refused ${s.remoteAddress ?? "?"}: maxPeers (${this.maxPeers}) reached`));
        return false;
      }
      return true;
    },
    accepted: (t: Transport, acceptedAt: number): void => {
      this.attach(t, "bind", acceptedAt + this.connOpts.handshakeTimeout);
    },
    report: (err: AiomsgError): void => this.report(err),
    handshakeTimeout: (): number => this.connOpts.handshakeTimeout,
    closed: (): boolean => this.closedFlag,
  };

  protected override stopTransports(): Promise<void>[] {
    for (const s of this.#dialing) s.destroy(new Error("the socket was closed while connecting"));
    this.#dialing.clear();
    return [...this.#listeners.map((l) => l.close()), ...this.#sets.map((s) => s.stop())];
  }
}

function refreshBounds(r: ConnectOptions["refresh"]): RefreshBounds {
  const min = r?.min ?? 1000;
  const max = r?.max ?? 30_000;
  const jitter = r?.jitter ?? 0.1;
  if (!(Number.isFinite(min) && min > 0 && Number.isFinite(max) && max >= min && Number.isFinite(jitter) && jitter >= 0 && jitter < 1)) {
    throw new UsageError(
      "ERR_AIOMSG_INVALID_OPTION",
      `connect() refresh needs 0 < min <= max (ms) and 0 <= jitter < 1, got ${JSON.stringify({ min, max, jitter })}`,
    );
  }
  return { min, max, jitter };
}
