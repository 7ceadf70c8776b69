// Byte builders and a streaming frame reader for the fidelity suite: the three
// aiomsg wires written by hand (no aiomsg library), as docs/protocol.md and the
// README's "Wire compatibility" section describe them.
//   v1      typed envelopes: HELLO 01 01 id(16) [tail], HEARTBEAT 02, DATA 03 payload,
//           DATA_REQ 04 msgid(16) payload, ACK 05 msgid(16)
//   legacy  identity frame = the raw identity; heartbeat = "aiomsg-heartbeat";
//           REQ = msgid(16) 00 'REQ' 00 payload, REP = msgid(16) 00 'REP' 00
//   early   the legacy wire, but the identity frame is UTF-8 text
// Every frame is a u32 big-endian length, then that many bytes.
import { randomBytes, randomUUID } from "node:crypto";

export const HEARTBEAT_V1 = Buffer.from([0x02]);
export const HEARTBEAT_LEGACY = Buffer.from("aiomsg-heartbeat");
const REQ_MARK = Buffer.from([0x00, 0x52, 0x45, 0x51, 0x00]); // 00 'REQ' 00
const REP_MARK = Buffer.from([0x00, 0x52, 0x45, 0x50, 0x00]); // 00 'REP' 00

/** u32 big-endian length + body. */
export function frame(body) {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export const b = (x) => (Buffer.isBuffer(x) ? x : typeof x === "string" ? Buffer.from(x) : Buffer.from(x));

export const v1 = {
  hello: (identity, { version = 1, tail = Buffer.alloc(0) } = {}) => Buffer.concat([Buffer.from([0x01, version]), identity, tail]),
  heartbeat: () => HEARTBEAT_V1,
  data: (payload) => Buffer.concat([Buffer.from([0x03]), b(payload)]),
  dataReq: (msgId, payload) => Buffer.concat([Buffer.from([0x04]), msgId, b(payload)]),
  ack: (msgId) => Buffer.concat([Buffer.from([0x05]), msgId]),
};

export const legacy = {
  heartbeat: () => HEARTBEAT_LEGACY,
  data: (payload) => b(payload),
  req: (msgId, payload) => Buffer.concat([msgId, REQ_MARK, b(payload)]),
  rep: (msgId) => Buffer.concat([msgId, REP_MARK]),
};

/** A fresh driver identity for a dialect: 16 random bytes, or (early) a UUID's text. */
export function newIdentity(dialect) {
  return dialect === "early" ? Buffer.from(randomUUID()) : randomBytes(16);
}

/** Body of a greeting carrying `identity` in `dialect`. */
export function greeting(dialect, identity) {
  return dialect === "v1" ? v1.hello(identity) : identity;
}

/** Body of an application message in `dialect`. */
export function dataFrame(dialect, payload) {
  return dialect === "v1" ? v1.data(payload) : legacy.data(payload);
}

/** Body of an acknowledgement of `msgId` in `dialect`. */
export function ackFrame(dialect, msgId) {
  return dialect === "v1" ? v1.ack(msgId) : legacy.rep(msgId);
}

/**
 * Parses one received frame body into {kind, ...} for `dialect`, `first` telling
 * whether it is the first frame of the connection (the greeting).
 *   v1: hello {version, identity, tail}, heartbeat, data {payload}, dataReq {msgId, payload}, ack {msgId}, unknown {body}
 *   legacy/early: greeting {identity}, heartbeat, req {msgId, payload}, rep {msgId}, data {payload}
 */
export function parseFrame(dialect, body, first) {
  if (dialect === "v1") {
    if (body.length === 0) return { kind: "empty" };
    const t = body[0];
    if (t === 0x01) return { kind: "hello", version: body[1], identity: body.subarray(2, 18), tail: body.length - 18 };
    if (t === 0x02) return { kind: "heartbeat" };
    if (t === 0x03) return { kind: "data", payload: body.subarray(1) };
    if (t === 0x04) return { kind: "dataReq", msgId: body.subarray(1, 17), payload: body.subarray(17) };
    if (t === 0x05) return { kind: "ack", msgId: body.subarray(1) };
    return { kind: "unknown", body };
  }
  if (first) return { kind: "greeting", identity: body };
  if (body.equals(HEARTBEAT_LEGACY)) return { kind: "heartbeat" };
  if (body.length >= 21 && body.subarray(16, 21).equals(REQ_MARK)) return { kind: "req", msgId: body.subarray(0, 16), payload: body.subarray(21) };
  if (body.length >= 21 && body.subarray(16, 21).equals(REP_MARK)) return { kind: "rep", msgId: body.subarray(0, 16), payload: body.subarray(21) };
  return { kind: "data", payload: body };
}

/** Streaming decoder: push() chunks, get whole frame bodies back (frames split anywhere). */
export class FrameReader {
  constructor() {
    this.chunks = [];
    this.buffered = 0;
    this.need = -1; // body length of the frame being read, -1 while reading its length
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out = [];
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) break;
        this.need = this.take(4).readUInt32BE(0);
      }
      if (this.buffered < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  take(n) {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return Buffer.from(head);
  }
}
