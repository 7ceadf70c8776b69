/**
 * The dialect registry: every wire this library speaks. The names a socket
 * accepts for its `protocol` option and which dialects may travel over
 * WebSocket derive from it; `detectDialect` is how `auto` tells them apart by
 * a peer's first frame (docs/protocol.md "Telling the generations apart").
 */
import { IDENTITY_SIZE, MAX_HELLO_SIZE, type Dialect, type DialectName } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import { earlyDialect } from "./early.js";
import { isUtf8 } from "./utf8.js";
import { legacyDialect } from "./legacy.js";
import { v1Dialect } from "./v1.js";

export const DIALECTS: Readonly<Record<DialectName, Dialect>> = { v1: v1Dialect, legacy: legacyDialect, early: earlyDialect };

export const DIALECT_NAMES = Object.keys(DIALECTS) as DialectName[];

/** No handshake frame is longer than this (the frame limit until the peer is known). */
export { MAX_HELLO_SIZE };

export function dialectFor(name: DialectName): Dialect {
  return DIALECTS[name];
}

export function isDialectName(name: unknown): name is DialectName {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(DIALECTS, name);
}

/**
 * Which generation a peer's first frame (its handshake) belongs to, for
 * `auto`. Every non-empty frame gets exactly one answer, tried in this order:
 *
 * 1. 16 bytes: legacy (a 2019 peer's raw identity, whatever its bytes);
 * 2. first byte 0x01: v1 (a HELLO; parseHello then refuses one shorter than
 *    18 bytes or of another version with a coded error);
 * 3. valid UTF-8: early (a text identity, `str(uuid4())` by default);
 * 4. anything else: legacy (a 2019.5.2+ peer with a custom binary identity of
 *    another length, e.g. 17 bytes that are not UTF-8).
 *
 * Ambiguities, each resolved the way real peers make harmless: an early peer
 * with a 16-character identity is answered as legacy (it decodes the reply as
 * UTF-8, so that works when this end's identity bytes are valid UTF-8); an
 * early identity beginning with U+0001 or a legacy custom identity beginning
 * with byte 0x01 (other than 16 bytes) is read as a v1 HELLO (neither is made
 * by any aiomsg release); a legacy custom identity that happens to be valid
 * UTF-8 is answered as early (2019.5.2+ accepts the UUID text reply as the
 * identity). An empty frame fits none: ERR_AIOMSG_UNKNOWN_DIALECT.
 */
export function classifyFirstFrame(firstFrame: Uint8Array): DialectName | undefined {
  if (firstFrame.length === 0) return undefined;
  if (firstFrame.length === IDENTITY_SIZE) return "legacy";
  if (firstFrame[0] === 0x01) return "v1";
  return isUtf8(firstFrame) ? "early" : "legacy";
}

/** `auto`: the dialect whose handshake the peer's first frame is. */
export function detectDialect(firstFrame: Uint8Array): Dialect {
  const name = classifyFirstFrame(firstFrame);
  if (name === undefined) throw new ProtocolError("ERR_AIOMSG_UNKNOWN_DIALECT", "the first frame is empty: the handshake of no known dialect");
  return DIALECTS[name];
}
