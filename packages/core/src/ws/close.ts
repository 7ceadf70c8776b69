/**
 * WebSocket close codes (RFC 6455 section 7.4.1) and the one mapping from
 * why an aiomsg connection ended to the code its peer is sent. Platform
 * neutral: the Node transports and the browser's use it.
 */
import { type AiomsgError, ProtocolError } from "../errors.js";

/** Close codes (RFC 6455 section 7.4.1). */
export const WsClose = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;

/** The close code a WebSocket peer is sent for a connection closed with `reason`. */
export function closeCodeFor(reason: AiomsgError | undefined): number {
  if (reason === undefined) return WsClose.NORMAL;
  if (reason instanceof WsError) return reason.wsClose >= 1000 ? reason.wsClose : WsClose.PROTOCOL_ERROR;
  switch (reason.code) {
    case "ERR_AIOMSG_HEARTBEAT_TIMEOUT":
    case "ERR_AIOMSG_HANDSHAKE_TIMEOUT":
    case "ERR_AIOMSG_CLOSE_LINGER":
    case "ERR_AIOMSG_SOCKET_CLOSED":
    case "ERR_AIOMSG_PEER_LOST":
      return WsClose.GOING_AWAY;
    case "ERR_AIOMSG_FRAME_TOO_LARGE":
      return WsClose.TOO_BIG;
    case "ERR_AIOMSG_SLOW_CONSUMER":
    case "ERR_AIOMSG_DUPLICATE_IDENTITY":
    case "ERR_AIOMSG_MAX_PEERS":
    case "ERR_AIOMSG_REFUSED":
      return WsClose.POLICY_VIOLATION;
    default:
      return reason instanceof ProtocolError ? WsClose.PROTOCOL_ERROR : WsClose.INTERNAL_ERROR;
  }
}

export class WsError extends ProtocolError {
  constructor(
    message: string,
    /** WebSocket close code to send, or an HTTP status before the upgrade. */
    readonly wsClose: number,
  ) {
    super("ERR_AIOMSG_WEBSOCKET", message);
  }
}

export function wsError(message: string, code: number): WsError {
  return new WsError(`WebSocket: ${message}`, code);
}
