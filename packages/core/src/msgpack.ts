/**
 * MessagePack for sendMsgpack() and recvMsgpack(): a codec installed once per
 * entry. The Node entry (socket.ts) installs @msgpack/msgpack; the browser
 * bundle leaves it out (it would be most of the bundle) and a page that wants
 * it hands it in: `useMsgpack(await import("@msgpack/msgpack"))`.
 */
import { UsageError } from "./errors.js";

export interface MsgpackCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

let codec: MsgpackCodec | undefined;

/** Install the MessagePack codec that sendMsgpack() and recvMsgpack() use (e.g. the `@msgpack/msgpack` module). */
export function useMsgpack(c: MsgpackCodec): void {
  if (typeof c?.encode !== "function" || typeof c?.decode !== "function") {
    throw new UsageError("ERR_AIOMSG_INVALID_OPTION", "useMsgpack() takes a codec with encode() and decode(), e.g. the @msgpack/msgpack module");
  }
  codec = { encode: c.encode, decode: c.decode };
}

/** The installed codec; without one, a UsageError that says how to install it. */
export function msgpack(): MsgpackCodec {
  if (codec === undefined) {
    throw new UsageError(
      "ERR_AIOMSG_INVALID_OPTION",
      "no MessagePack codec: aiomsg-ts/browser leaves @msgpack/msgpack out; hand useMsgpack() the @msgpack/msgpack module first",
    );
  }
  return codec;
}
