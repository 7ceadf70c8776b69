export { Socket, SendMode, DeliveryGuarantee } from "./socket.js";
export type {
  SocketOptions,
  BindOptions,
  ConnectOptions,
  SendOptions,
  PeerInfo,
  PeerDisconnectInfo,
  DroppedMessage,
  SocketEvents,
} from "./socket.js";
export type { ProtocolOption } from "./connection.js";
export type { DialectName } from "./dialect.js";
export type { TransportKind } from "./transport.js";
export { AiomsgError, ProtocolError, UsageError } from "./errors.js";
export type { AiomsgErrorCode } from "./errors.js";
export { FrameDecoder, encodeFrame } from "./wire/frame.js";
export * as v1 from "./wire/v1.js";
export * as legacy from "./wire/legacy.js";
