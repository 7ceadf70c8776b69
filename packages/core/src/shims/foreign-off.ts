/**
 * The browser bundle's wire/foreign.ts (build-browser.mjs resolves it here):
 * a page reaches its peers over WebSocket only, where another protocol's
 * opening (HTTP, TLS, a banner) cannot arrive as a frame, so the bytes are
 * not named; an oversized first frame is still refused, with the same codes
 * as the full build (ERR_AIOMSG_UNKNOWN_DIALECT before the dialect is known,
 * ERR_AIOMSG_BAD_HELLO after).
 */
import { MAX_HELLO_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import type { FrameDecoder } from "../wire/frame.js";

export const WAKE = Buffer.from([0, 0, 0]);

export function handshakeLimit(_kind: unknown, _direction: unknown, dialectKnown: () => boolean): FrameDecoder["limit"] {
  return {
    size: MAX_HELLO_SIZE,
    refuse: (length) =>
      new ProtocolError(dialectKnown() ? "ERR_AIOMSG_BAD_HELLO" : "ERR_AIOMSG_UNKNOWN_DIALECT", `first frame (${length} bytes) is longer than a handshake (at most ${MAX_HELLO_SIZE} bytes)`),
  };
}

export function notAGreeting(prefix: number): ProtocolError {
  return new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", `first frame of ${prefix} bytes`);
}

export function notAiomsg(): undefined {
  return undefined;
}
