/**
 * Observability without a dependency: `node:diagnostics_channel` channels
 * named `aiomsg:*`, which OpenTelemetry or any tracer can subscribe to. The
 * module is looked up at run time (process.getBuiltinModule, Node >= 20.16,
 * Bun, Deno); the browser build has none and publishes nothing. Messages
 * are published only while a channel has subscribers: the hot path pays one
 * property read.
 *
 * | channel | message |
 * |---|---|
 * | `aiomsg:dial` | `{ socket, target, attempt, delay }`: a connect end is about to dial (attempt 1 is the first; delay is the wait before it) |
 * | `aiomsg:connected` | `{ socket, peer }`: a handshake completed (peer: PeerInfo) |
 * | `aiomsg:refused` | `{ socket, remote, error }`: a connection was refused, by this end or by the peer |
 * | `aiomsg:closed` | `{ socket, peer, error }`: a connection ended (error undefined when orderly) |
 * | `aiomsg:send` | `{ socket, bytes, identity }`: send() accepted a message (identity when sent by identity) |
 * | `aiomsg:receive` | `{ socket, bytes, identity }`: a message from a peer was queued for the application |
 * | `aiomsg:drop` | `{ socket, code, bytes, identity }`: the socket gave up on a message (as the `dropped` event) |
 */
interface Channel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

interface DiagnosticsChannel {
  channel(name: string): Channel;
}

const NONE: Channel = { hasSubscribers: false, publish: () => undefined };

function lookup(): DiagnosticsChannel | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return p?.getBuiltinModule?.("diagnostics_channel") as DiagnosticsChannel | undefined;
  } catch {
    return undefined;
  }
}

const dc = lookup();
const open = (name: string): Channel => dc?.channel(name) ?? NONE;

/**
 * Whether this runtime has diagnostics channels: every publishing site
 * checks it first (`if (OBSERVED && channels.x.hasSubscribers)`), so that
 * the browser bundle, whose stand-in (shims/observe.ts) makes it the
 * constant false, carries none of them.
 */
export const OBSERVED: boolean = dc !== undefined;

export const channels = {
  dial: open("aiomsg:dial"),
  connected: open("aiomsg:connected"),
  refused: open("aiomsg:refused"),
  closed: open("aiomsg:closed"),
  send: open("aiomsg:send"),
  receive: open("aiomsg:receive"),
  drop: open("aiomsg:drop"),
};
