/**
 * The early wire (aiomsg 2018.8.1 to 2019.5.0; docs/protocol.md "The early
 * wire"): the legacy wire with a text handshake. Each end sends its identity
 * at once as a UTF-8 text frame and decodes the peer's as strict UTF-8; every
 * frame after that is the legacy wire (same heartbeat, same REQ/REP header).
 *
 * Identities cross between text and bytes by one rule, so that a send by
 * identity round-trips:
 * - this end sends the canonical 36-character lowercase UUID text of its own
 *   16-byte identity (`275acd02-fd35-445e-9096-8923d5db2774`);
 * - a peer's text identity that is such a canonical UUID text maps back to its
 *   16 bytes (so two TS early ends know each other by their 16-byte
 *   identities, and a Python early peer's default `str(uuid4())` identity is
 *   16 bytes here);
 * - any other valid UTF-8 text maps to its UTF-8 bytes, as received;
 * - a frame that is not valid UTF-8, or empty, is refused
 *   (ERR_AIOMSG_BAD_HELLO), where a Python early end raises a decode error.
 */
import type { Dialect } from "../dialect.js";
import { IDENTITY_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import { legacyDialect } from "./legacy.js";
import { isUtf8 } from "./utf8.js";

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_TEXT_SIZE = 36;

export { isUtf8 };

/** The canonical lowercase UUID text of a 16-byte identity, as the bytes of its 36 ASCII characters. */
export function hello(identity: Uint8Array): Buffer {
  if (identity.length !== IDENTITY_SIZE) throw new RangeError(`an early greeting encodes a ${IDENTITY_SIZE}-byte identity, got ${identity.length} bytes`);
  const h = Buffer.from(identity.buffer, identity.byteOffset, identity.byteLength).toString("hex");
  return Buffer.from(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`, "latin1");
}

/**
 * A peer's identity frame to the bytes it is known by here: a canonical UUID
 * text to its 16 bytes, any other valid UTF-8 to itself; throws ProtocolError.
 */
export function identityFromText(body: Uint8Array): Buffer {
  if (body.length === 0) throw new ProtocolError("ERR_AIOMSG_BAD_HELLO", "early identity frame is empty");
  if (!isUtf8(body)) throw new ProtocolError("ERR_AIOMSG_BAD_HELLO", `early identity frame (${body.length} bytes) is not valid UTF-8`);
  const bytes = Buffer.from(body);
  if (bytes.length === UUID_TEXT_SIZE) {
    const text = bytes.toString("latin1");
    if (UUID_TEXT.test(text)) return Buffer.from(text.replace(/-/g, ""), "hex");
  }
  return bytes;
}

export const earlyDialect: Dialect = {
  name: "early",
  // The early releases had no WebSocket transport.
  websocket: false,
  hello,
  parseHello: identityFromText,
  // After the handshake, every byte is the legacy wire.
  heartbeat: legacyDialect.heartbeat,
  dataHead: legacyDialect.dataHead,
  requestBefore: legacyDialect.requestBefore,
  requestAfter: legacyDialect.requestAfter,
  ackBefore: legacyDialect.ackBefore,
  ackAfter: legacyDialect.ackAfter,
  dispatch: legacyDialect.dispatch,
};
