/**
 * The browser Socket (`aiomsg-ts/browser`): a SocketBase (routing, flow
 * control, reliability, heartbeats) whose connections are the page's
 * `WebSocket`s. Connect only: a page cannot listen.
 */
import { UsageError } from "./errors.js";
import { SocketBase } from "./socket-base.js";
import { dialBrowserWs } from "./transports/browser-websocket.js";
import { dialectFor } from "./wire/dialects.js";

export interface BrowserConnectOptions {
  /** Give up one attempt after this many ms (then wait reconnectionDelay). Default 1000. */
  connectTimeout?: number;
}

export class Socket extends SocketBase {
  /**
   * Keep a connection to `ws://host:port/path` or `wss://host:port/path` for
   * the life of the socket, reconnecting after `reconnectionDelay`. Returns at
   * once (messages sent meanwhile are buffered). May be called for several peers.
   */
  async connect(url: string, options: BrowserConnectOptions = {}): Promise<this> {
    if (this.closing) throw new UsageError("ERR_AIOMSG_SOCKET_CLOSED", "the socket is closed");
    if (typeof url !== "string") throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "connect() takes a ws:// or wss:// URL");
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `not a URL: ${url}`);
    }
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `unsupported scheme ${parsed.protocol} in the browser (ws:// or wss:// only)`);
    }
    if (this.protocol !== "auto" && !dialectFor(this.protocol).websocket) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `WebSocket cannot carry the ${this.protocol} wire (2019 aiomsg had no WebSocket transport)`);
    }
    const timeout = options.connectTimeout ?? 1000;
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new UsageError("ERR_AIOMSG_INVALID_OPTION", `connectTimeout must be a positive number of ms, got ${String(timeout)}`);
    }
    const target = parsed.href;
    this.keepConnected(target, () => dialBrowserWs(target, timeout));
    return this;
  }

  /** A page cannot listen for connections: bind() always throws. */
  bind(..._args: unknown[]): never {
    throw new UsageError(
      "ERR_AIOMSG_INVALID_OPTION",
      "bind() is not available in the browser: a page cannot accept connections. Bind in Node or Python and connect() to it with ws:// or wss://",
    );
  }
}

export { SendMode, DeliveryGuarantee } from "./options.js";
export { useMsgpack } from "./msgpack.js";
export type { MsgpackCodec } from "./msgpack.js";
export type { SocketOptions, SendOptions } from "./options.js";
export type { PeerInfo, PeerDisconnectInfo, DroppedMessage, SocketEvents, SocketStats, PeerStats, TargetStats, AdmissionRequest, AdmitHook, AdmissionToken, PeerCertificate } from "./socket-base.js";
export type { ProtocolOption } from "./connection.js";
export type { DialectName } from "./dialect.js";
export type { TransportKind } from "./transport.js";
export { AiomsgError, ProtocolError, UsageError } from "./errors.js";
export { WebSocketClosedError } from "./transports/browser-websocket.js";
export type { AiomsgErrorCode } from "./errors.js";
