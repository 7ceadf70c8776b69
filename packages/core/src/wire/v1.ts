/**
 * Protocol v1 (Python aiomsg 2026.7.1+): every frame body starts with a type
 * byte (docs/protocol.md "v1: typed envelopes"). Pure functions over bytes.
 */
import type { Dialect, FrameSink } from "../dialect.js";
import { IDENTITY_SIZE, MSG_ID_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";

export const PROTOCOL_VERSION = 1;

export const enum V1Type {
  HELLO = 0x01,
  HEARTBEAT = 0x02,
  DATA = 0x03,
  DATA_REQ = 0x04,
  ACK = 0x05,
}

/**
 * Size of the HELLO this end sends, and the least it accepts: a peer's HELLO
 * may be longer (the tail is reserved for future fields, as upstream's design
 * notes keep it open) and everything after the identity is ignored, as Python
 * 2026.7.1 does. The handshake's size bound is MAX_HELLO_SIZE (dialect.ts).
 */
export const HELLO_SIZE = 2 + IDENTITY_SIZE;

export function hello(identity: Uint8Array, version = PROTOCOL_VERSION): Buffer {
  const out = Buffer.allocUnsafe(2 + identity.length);
  out[0] = V1Type.HELLO;
  out[1] = version;
  out.set(identity, 2);
  return out;
}

export function heartbeat(): Buffer {
  return Buffer.from([V1Type.HEARTBEAT]);
}

export function data(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + payload.length);
  out[0] = V1Type.DATA;
  out.set(payload, 1);
  return out;
}

export function dataReq(msgId: Uint8Array, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + MSG_ID_SIZE + payload.length);
  out[0] = V1Type.DATA_REQ;
  out.set(msgId, 1);
  out.set(payload, 1 + MSG_ID_SIZE);
  return out;
}

export function ack(msgId: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + MSG_ID_SIZE);
  out[0] = V1Type.ACK;
  out.set(msgId, 1);
  return out;
}

export type V1Envelope =
  | { type: "hello"; version: number; identity: Buffer }
  | { type: "heartbeat" }
  | { type: "data"; payload: Buffer }
  | { type: "data_req"; msgId: Buffer; payload: Buffer }
  | { type: "ack"; msgId: Buffer }
  | { type: "unknown"; code: number | undefined };

/**
 * Decode one envelope for inspection and tests. Malformed known types
 * (too short for their fixed fields) throw ERR_AIOMSG_MALFORMED.
 */
export function decode(body: Buffer): V1Envelope {
  if (body.length === 0) return { type: "unknown", code: undefined };
  switch (body[0]) {
    case V1Type.HELLO:
      // Bytes after the identity are reserved and ignored.
      if (body.length < HELLO_SIZE) throw malformed("HELLO", body.length);
      return { type: "hello", version: body[1]!, identity: body.subarray(2, HELLO_SIZE) };
    case V1Type.HEARTBEAT:
      return { type: "heartbeat" };
    case V1Type.DATA:
      return { type: "data", payload: body.subarray(1) };
    case V1Type.DATA_REQ:
      if (body.length < 1 + MSG_ID_SIZE) throw malformed("DATA_REQ", body.length);
      return { type: "data_req", msgId: body.subarray(1, 1 + MSG_ID_SIZE), payload: body.subarray(1 + MSG_ID_SIZE) };
    case V1Type.ACK:
      // Trailing bytes after the id are ignored, as dispatch() (and Python) do.
      if (body.length < 1 + MSG_ID_SIZE) throw malformed("ACK", body.length);
      return { type: "ack", msgId: body.subarray(1, 1 + MSG_ID_SIZE) };
    default:
      return { type: "unknown", code: body[0] };
  }
}

function malformed(what: string, len: number): ProtocolError {
  return new ProtocolError("ERR_AIOMSG_MALFORMED", `malformed v1 ${what} envelope (${len} bytes)`);
}

const DATA_HEAD = Buffer.from([V1Type.DATA]);
const REQ_HEAD = Buffer.from([V1Type.DATA_REQ]);
const ACK_HEAD = Buffer.from([V1Type.ACK]);

export const v1Dialect: Dialect = {
  name: "v1",
  websocket: true,
  hello: (identity) => hello(identity),
  parseHello(body) {
    if (body.length === 0 || body[0] !== V1Type.HELLO) {
      throw new ProtocolError(
        "ERR_AIOMSG_NO_HELLO",
        `expected a v1 HELLO as first frame, got ${body.length === 0 ? "an empty frame" : `type 0x${body[0]!.toString(16)}`}`,
      );
    }
    if (body.length < HELLO_SIZE) {
      throw new ProtocolError("ERR_AIOMSG_BAD_HELLO", `v1 HELLO must be at least ${HELLO_SIZE} bytes, got ${body.length}`);
    }
    if (body[1] !== PROTOCOL_VERSION) {
      throw new ProtocolError("ERR_AIOMSG_BAD_VERSION", `unsupported protocol version ${body[1]} (this end speaks ${PROTOCOL_VERSION})`);
    }
    // A longer HELLO's tail is reserved for future fields: ignored.
    return Buffer.from(body.subarray(2, HELLO_SIZE));
  },
  heartbeat: heartbeat(),
  dataHead: DATA_HEAD,
  requestBefore: REQ_HEAD,
  requestAfter: Buffer.alloc(0),
  ackBefore: ACK_HEAD,
  ackAfter: Buffer.alloc(0),
  dispatch(buf: Buffer, start: number, end: number, sink: FrameSink) {
    // Unknown types are skipped (docs/protocol.md, forward compatibility). An
    // empty frame ends the connection, as Python 2026.7.1's reader takes it
    // for end of stream (no aiomsg end sends one). A DATA_REQ too short for
    // its msg id closes (Python would deliver a cut message and acknowledge a
    // short id: closing is the safe departure).
    const len = end - start;
    if (len === 0) throw new ProtocolError("ERR_AIOMSG_EMPTY_FRAME", "empty frame on the v1 wire (Python aiomsg takes it for end of stream)");
    switch (buf[start]) {
      case V1Type.DATA:
        sink.data(buf, start + 1, end);
        return;
      case V1Type.DATA_REQ:
        if (len < 1 + MSG_ID_SIZE) throw malformed("DATA_REQ", len);
        sink.request(buf, start + 1, start + 1 + MSG_ID_SIZE, end);
        return;
      case V1Type.ACK:
        // An ACK too short to carry a msg id acknowledges nothing: skipped, as
        // Python 2026.7.1 does (no state changes, so nothing to protect).
        if (len >= 1 + MSG_ID_SIZE) sink.ack(buf, start + 1);
        return;
      case V1Type.HEARTBEAT:
        return;
      case V1Type.HELLO:
        // A second HELLO is skipped, as Python 2026.7.1 does: the peer's
        // identity was fixed by the first, and nothing in this one is used.
        return;
      default:
        return;
    }
  },
};
