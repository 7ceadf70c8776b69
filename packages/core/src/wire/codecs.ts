/**
 * The public codec functions of each wire, by name (pure functions over
 * bytes, for tools and tests): `v1.hello(identity)`, `legacy.request(id, payload)`, ...
 */
import * as v1wire from "./v1.js";
import * as legacyWire from "./legacy.js";
import * as earlyWire from "./early.js";

export const v1 = {
  PROTOCOL_VERSION: v1wire.PROTOCOL_VERSION,
  HELLO_SIZE: v1wire.HELLO_SIZE,
  hello: v1wire.hello,
  heartbeat: v1wire.heartbeat,
  data: v1wire.data,
  dataReq: v1wire.dataReq,
  ack: v1wire.ack,
  decode: v1wire.decode,
} as const;

export const legacy = {
  HEARTBEAT: legacyWire.HEARTBEAT,
  HEADER_SIZE: legacyWire.HEADER_SIZE,
  requestHeader: legacyWire.requestHeader,
  request: legacyWire.request,
  reply: legacyWire.reply,
  headerKind: legacyWire.headerKind,
  isHeartbeat: legacyWire.isHeartbeat,
} as const;

/** The early wire's handshake (2018.8.1 to 2019.5.0); after it, every frame is `legacy`. */
export const early = {
  hello: earlyWire.hello,
  identityFromText: earlyWire.identityFromText,
  isUtf8: earlyWire.isUtf8,
} as const;
