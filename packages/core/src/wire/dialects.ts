/**
 * The dialect registry: every wire this library speaks, in the order `auto`
 * tries them on a peer's first frame. The names a socket accepts for its
 * `protocol` option and which dialects may travel over WebSocket derive from
 * it, so
 * a new dialect is its own file plus one line here.
 */
import { MAX_HELLO_SIZE, type Dialect, type DialectName } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import { legacyDialect } from "./legacy.js";
import { v1Dialect } from "./v1.js";

export const DIALECTS: Readonly<Record<DialectName, Dialect>> = { v1: v1Dialect, legacy: legacyDialect };

export const DIALECT_NAMES = Object.keys(DIALECTS) as DialectName[];

/** No handshake frame is longer than this (the frame limit until the peer is known). */
export { MAX_HELLO_SIZE };

export function dialectFor(name: DialectName): Dialect {
  return DIALECTS[name];
}

export function isDialectName(name: unknown): name is DialectName {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(DIALECTS, name);
}

/** `auto`: the dialect whose handshake the peer's first frame is. */
export function detectDialect(firstFrame: Uint8Array): Dialect {
  for (const name of DIALECT_NAMES) if (DIALECTS[name].isHello(firstFrame)) return DIALECTS[name];
  throw new ProtocolError(
    "ERR_AIOMSG_UNKNOWN_DIALECT",
    `first frame (${firstFrame.length} bytes) is the handshake of no known dialect (${DIALECT_NAMES.join(", ")})`,
  );
}
