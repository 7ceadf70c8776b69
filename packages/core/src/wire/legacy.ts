/**
 * The 2019 wire (aiomsg 2019.5.2-2019.12.3; docs/protocol.md "legacy (2019):
 * untyped payloads"): untyped payloads, a raw identity frame (any length from
 * 1 byte) as handshake, a magic heartbeat payload, and an in-band REQ/REP
 * header for at-least-once. After its text handshake the early wire is this
 * wire too (early.ts). Pure functions over bytes.
 *
 * Two ambiguities are reproduced on purpose because 2019 peers behave so:
 * - a payload equal to the 16 bytes `aiomsg-heartbeat` is taken as a heartbeat
 *   and never reaches the application;
 * - any payload whose bytes 16..20 are `00 'REQ' 00` or `00 'REP' 00` is taken as
 *   an at-least-once header (a REQ is acknowledged and its first 21 bytes
 *   stripped; a REP is consumed).
 */
import type { Dialect, FrameSink } from "../dialect.js";
import { MSG_ID_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";

export const HEARTBEAT = Buffer.from("aiomsg-heartbeat", "latin1");
export const HEADER_SIZE = MSG_ID_SIZE + 5;

const R = 0x52;
const E = 0x45;
const Q = 0x51;
const P = 0x50;

// What follows the 16-byte id in an at-least-once header.
const REQ_SUFFIX = Buffer.from([0, R, E, Q, 0]);
const REP_SUFFIX = Buffer.from([0, R, E, P, 0]);

export function requestHeader(msgId: Uint8Array): Buffer {
  return Buffer.concat([msgId.subarray(0, MSG_ID_SIZE), REQ_SUFFIX]);
}

export function reply(msgId: Uint8Array): Buffer {
  return Buffer.concat([msgId.subarray(0, MSG_ID_SIZE), REP_SUFFIX]);
}

export function request(msgId: Uint8Array, payload: Uint8Array): Buffer {
  return Buffer.concat([requestHeader(msgId), payload]);
}

/** The 2019 receiver's header rule: "REQ", "REP" or undefined (plain payload). */
export function headerKind(body: Uint8Array): "REQ" | "REP" | undefined {
  if (body.length < HEADER_SIZE || body[16] !== 0 || body[17] !== R || body[18] !== E || body[20] !== 0) return undefined;
  if (body[19] === Q) return "REQ";
  if (body[19] === P) return "REP";
  return undefined;
}

export function isHeartbeat(body: Uint8Array): boolean {
  return body.length === HEARTBEAT.length && HEARTBEAT.equals(body);
}

export const legacyDialect: Dialect = {
  name: "legacy",
  // 2019 aiomsg had no WebSocket transport.
  websocket: false,
  hello: (identity) => Buffer.from(identity),
  parseHello(body) {
    // A 2019 peer sends its raw identity, 16 bytes by default; 2019.12.3
    // accepts any length from 1 byte and so does this end (up to the
    // handshake bound, MAX_HELLO_SIZE). An empty frame is no identity.
    if (body.length === 0) {
      throw new ProtocolError("ERR_AIOMSG_BAD_HELLO", "legacy identity frame is empty");
    }
    return Buffer.from(body);
  },
  heartbeat: HEARTBEAT,
  dataHead: Buffer.alloc(0),
  requestBefore: Buffer.alloc(0),
  requestAfter: REQ_SUFFIX,
  ackBefore: Buffer.alloc(0),
  ackAfter: REP_SUFFIX,
  dispatch(buf: Buffer, start: number, end: number, sink: FrameSink) {
    // The 2019 wires are not this library's fast path: one view per frame.
    const body = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    if (body.length === 0) {
      // A 2019 reader takes an empty frame for end of stream and hangs up.
      throw new ProtocolError("ERR_AIOMSG_EMPTY_FRAME", "empty frame on the legacy wire");
    }
    if (isHeartbeat(body)) return;
    switch (headerKind(body)) {
      case "REQ":
        sink.request(body, 0, HEADER_SIZE, body.length);
        return;
      case "REP":
        sink.ack(body, 0);
        return;
      default:
        sink.data(body, 0, body.length);
    }
  },
};
