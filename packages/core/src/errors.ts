/**
 * Errors carry a stable `code`, like Node's own errors, so callers can branch
 * on `err.code` instead of parsing messages.
 */
export type AiomsgErrorCode =
  | "ERR_AIOMSG_FRAME_TOO_LARGE"
  | "ERR_AIOMSG_EMPTY_FRAME"
  | "ERR_AIOMSG_TRUNCATED_FRAME"
  | "ERR_AIOMSG_BAD_HELLO"
  | "ERR_AIOMSG_BAD_VERSION"
  | "ERR_AIOMSG_NO_HELLO"
  | "ERR_AIOMSG_DUPLICATE_IDENTITY"
  | "ERR_AIOMSG_UNKNOWN_DIALECT"
  | "ERR_AIOMSG_MALFORMED"
  | "ERR_AIOMSG_WEBSOCKET"
  | "ERR_AIOMSG_HANDSHAKE_TIMEOUT"
  | "ERR_AIOMSG_HEARTBEAT_TIMEOUT"
  | "ERR_AIOMSG_MAX_PEERS"
  | "ERR_AIOMSG_SOCKET_CLOSED"
  | "ERR_AIOMSG_INVALID_OPTION"
  | "ERR_AIOMSG_NOT_CONNECTED"
  | "ERR_AIOMSG_RETRIES_EXHAUSTED"
  | "ERR_AIOMSG_PEER_LOST"
  | "ERR_AIOMSG_CONNECT_FAILED"
  | "ERR_AIOMSG_CLOSE_LINGER"
  | "ERR_AIOMSG_ABORTED"
  | "ERR_AIOMSG_SLOW_CONSUMER"
  | "ERR_AIOMSG_PEER_FULL"
  | "ERR_AIOMSG_REFUSED"
  | "ERR_AIOMSG_NOT_AIOMSG"
  | "ERR_AIOMSG_BIND_FAILED"
  | "ERR_AIOMSG_NOT_ADMITTED"
  | "ERR_AIOMSG_RESOLVE_FAILED";

export class AiomsgError extends Error {
  readonly code: AiomsgErrorCode;
  constructor(code: AiomsgErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "AiomsgError";
  }
}

/** A peer broke the protocol; only its own connection is closed. */
export class ProtocolError extends AiomsgError {
  constructor(code: AiomsgErrorCode, message: string) {
    super(code, message);
    this.name = "ProtocolError";
  }
}

/**
 * The API was used in a way it does not support; thrown at the call (or the
 * returned promise rejects with it). An AiomsgError, so one `instanceof`
 * and one `code` switch cover every error this library raises.
 */
export class UsageError extends AiomsgError {
  constructor(code: AiomsgErrorCode, message: string) {
    super(code, message);
    this.name = "UsageError";
  }
}
