/**
 * Dialect selection. For `auto`, the peer's first frame tells: a v1 HELLO is
 * 18 bytes starting with type 0x01; a 2019 handshake is the raw 16-byte
 * identity. Anything else fits neither and is refused.
 */
import type { Dialect, DialectName } from "../dialect.js";
import { IDENTITY_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import { legacyDialect } from "./legacy.js";
import { HELLO_SIZE, v1Dialect } from "./v1.js";

export function dialectFor(name: DialectName): Dialect {
  return name === "legacy" ? legacyDialect : v1Dialect;
}

export function detectDialect(firstFrame: Uint8Array): Dialect {
  if (firstFrame.length === HELLO_SIZE && firstFrame[0] === 0x01) return v1Dialect;
  if (firstFrame.length === IDENTITY_SIZE) return legacyDialect;
  throw new ProtocolError(
    "ERR_AIOMSG_UNKNOWN_DIALECT",
    `first frame (${firstFrame.length} bytes) is neither a v1 HELLO nor a legacy identity`,
  );
}
