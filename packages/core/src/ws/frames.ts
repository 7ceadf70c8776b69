/**
 * RFC 6455 as aiomsg uses it (docs/protocol.md "WebSocket sub-transport"): the
 * payloads of binary messages, concatenated, are the aiomsg byte stream;
 * message boundaries mean nothing. Client frames are masked, server frames
 * are not; text frames are refused; pings are answered; no subprotocol and no
 * extension are negotiated. Pure functions and one streaming reader, used by
 * the bind end's server side and by the connect end's client.
 */
import { createHash, randomFillSync } from "node:crypto";
import { WsClose, wsError } from "./close.js";

export { WsClose, WsError, wsError } from "./close.js";

/** Upgrade requests (and responses) longer than this are refused (as Python's 8 KiB cap). */
export const MAX_UPGRADE_REQUEST = 8 * 1024;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export const OPCODE = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/**
 * Header of one final frame of `opcode` carrying `length` bytes; with a mask
 * key (client frames) the key follows the length.
 */
export function frameHeader(opcode: number, length: number, mask?: Uint8Array): Buffer {
  const maskBit = mask ? 0x80 : 0;
  const size = (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (mask ? 4 : 0);
  const h = Buffer.allocUnsafe(size);
  h[0] = 0x80 | opcode;
  let off = 2;
  if (length < 126) h[1] = maskBit | length;
  else if (length < 0x10000) {
    h[1] = maskBit | 126;
    h.writeUInt16BE(length, 2);
    off = 4;
  } else {
    h[1] = maskBit | 127;
    h.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    h.writeUInt32BE(length >>> 0, 6);
    off = 10;
  }
  if (mask) h.set(mask, off);
  return h;
}

/** Header of one unmasked server binary frame carrying `length` bytes. */
export function binaryFrameHeader(length: number): Buffer {
  return frameHeader(OPCODE.BINARY, length);
}

/** A whole control frame (payload at most 125 bytes), masked when `masked`. */
export function controlFrame(opcode: number, payload: Buffer, masked = false): Buffer {
  if (!masked) return Buffer.concat([frameHeader(opcode, payload.length), payload]);
  const key = randomFillSync(Buffer.allocUnsafe(4));
  const body = Buffer.from(payload);
  applyMask(body, key, 0);
  return Buffer.concat([frameHeader(opcode, body.length, key), body]);
}

export function closeFrame(code: number, masked = false): Buffer {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code, 0);
  return controlFrame(OPCODE.CLOSE, body, masked);
}

/** XOR `buf` in place with the 4-byte key, starting at key offset `off`. */
export function applyMask(buf: Uint8Array, key: Uint8Array, off: number): void {
  for (let i = 0; i < buf.length; i++) buf[i]! ^= key[(off + i) & 3]!;
}

/** Parse an HTTP upgrade request; returns the client's key, or throws a WsError carrying HTTP 400. */
export function parseUpgradeRequest(request: string): string {
  const [requestLine, ...lines] = request.split("\r\n");
  const headers = parseHeaders(lines);
  const key = headers.get("sec-websocket-key");
  const ok =
    /^GET \S+ HTTP\/1\.1$/.test(requestLine ?? "") &&
    (headers.get("upgrade") ?? "").toLowerCase() === "websocket" &&
    (headers.get("connection") ?? "").toLowerCase().split(/\s*,\s*/).includes("upgrade") &&
    headers.get("sec-websocket-version") === "13" &&
    key !== undefined &&
    Buffer.from(key, "base64").length === 16;
  if (!ok) throw wsError("not a valid WebSocket upgrade request", 400);
  return key!;
}

/** The 101 response; no Sec-WebSocket-Protocol and no Sec-WebSocket-Extensions: none is negotiated. */
export function upgradeResponse(key: string): Buffer {
  return Buffer.from(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    "latin1",
  );
}

/** A client's upgrade request for `path` on `host` (host[:port]), with a fresh key. */
export function upgradeRequest(host: string, path: string): { request: Buffer; key: string } {
  const key = randomFillSync(Buffer.allocUnsafe(16)).toString("base64");
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    "latin1",
  );
  return { request, key };
}

/** Check a server's response to upgradeRequest(); throws a WsError saying what is wrong. */
export function checkUpgradeResponse(response: string, key: string): void {
  const [statusLine, ...lines] = response.split("\r\n");
  if (!/^HTTP\/1\.1 101\b/.test(statusLine ?? "")) throw wsError(`upgrade refused: ${statusLine ?? "(no status line)"}`, WsClose.PROTOCOL_ERROR);
  const headers = parseHeaders(lines);
  if ((headers.get("upgrade") ?? "").toLowerCase() !== "websocket") throw wsError("upgrade response lacks Upgrade: websocket", WsClose.PROTOCOL_ERROR);
  if (headers.get("sec-websocket-accept") !== acceptKey(key)) throw wsError("wrong Sec-WebSocket-Accept", WsClose.PROTOCOL_ERROR);
  if (headers.has("sec-websocket-extensions")) throw wsError("the server chose an extension none was offered", WsClose.PROTOCOL_ERROR);
}

function parseHeaders(lines: string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return headers;
}

const enum Phase {
  HEADER,
  PAYLOAD,
  CONTROL,
}

export interface WsReaderHost {
  /** Payload bytes of binary messages (one call per read at most: tiny frames cost their bytes). */
  data(bytes: Buffer): void;
  /** A ping to answer with this payload. */
  ping(payload: Buffer): void;
  /** The peer sent a close frame (code, or undefined when it gave none); nothing follows. */
  close(code: number | undefined): void;
}

/**
 * Frames after the handshake, fed with raw socket bytes, for either role:
 * a server reads masked frames (and refuses unmasked ones), a client reads
 * unmasked frames (and refuses masked ones). Throws a WsError with the close
 * code to send.
 */
export class WsReader {
  private phase = Phase.HEADER;
  private pending: Buffer | undefined;
  private remaining = 0;
  private readonly mask = Buffer.alloc(4);
  private masked = false;
  private maskOff = 0;
  private opcode = 0;
  private control: Buffer[] = [];
  private ended = false;
  private out: Buffer[] = [];

  constructor(
    private readonly role: "server" | "client",
    private readonly host: WsReaderHost,
  ) {}

  push(chunk: Buffer): void {
    try {
      this.consume(chunk);
    } catch (err) {
      // Data that came before the bad frame is still delivered.
      try {
        this.emit();
      } catch {
        /* the first error is the one to report */
      }
      throw err;
    }
    this.emit();
  }

  private emit(): void {
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    this.host.data(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private consume(chunk: Buffer): void {
    let buf = this.pending !== undefined ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    while (buf.length > 0 && !this.ended) {
      if (this.phase === Phase.HEADER) {
        const used = this.header(buf);
        if (used === 0) {
          this.pending = Buffer.from(buf);
          return;
        }
        buf = buf.subarray(used);
        continue;
      }
      const take = Math.min(this.remaining, buf.length);
      const part = buf.subarray(0, take);
      // The socket's read buffers are ours: unmask in place.
      if (this.masked) applyMask(part, this.mask, this.maskOff);
      this.maskOff += take;
      this.remaining -= take;
      buf = buf.subarray(take);
      if (this.phase === Phase.PAYLOAD) {
        if (take > 0) this.out.push(part);
        if (this.remaining === 0) this.phase = Phase.HEADER;
      } else {
        this.control.push(Buffer.from(part));
        if (this.remaining === 0) this.finishControl();
      }
    }
  }

  /** Parse one frame header at the start of buf; returns bytes used, 0 if incomplete. */
  private header(buf: Buffer): number {
    if (buf.length < 2) return 0;
    const b0 = buf[0]!;
    const b1 = buf[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) throw wsError("reserved bits set (no extension was negotiated)", WsClose.PROTOCOL_ERROR);
    const masked = (b1 & 0x80) !== 0;
    if (this.role === "server" && !masked) throw wsError("client frames must be masked", WsClose.PROTOCOL_ERROR);
    if (this.role === "client" && masked) throw wsError("server frames must not be masked", WsClose.PROTOCOL_ERROR);
    let len = b1 & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) return 0;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) return 0;
      const hi = buf.readUInt32BE(2);
      if (hi > 0x1fffff) throw wsError("frame length beyond 2^53", WsClose.PROTOCOL_ERROR);
      len = hi * 0x100000000 + buf.readUInt32BE(6);
      off = 10;
    }
    if (masked) {
      if (buf.length < off + 4) return 0;
      buf.copy(this.mask, 0, off, off + 4);
      off += 4;
    }
    this.masked = masked;
    this.maskOff = 0;
    this.remaining = len;
    this.opcode = opcode;
    if (opcode === OPCODE.TEXT) throw wsError("text frames are not aiomsg data", WsClose.UNSUPPORTED_DATA);
    if (opcode === OPCODE.CONTINUATION || opcode === OPCODE.BINARY) {
      this.phase = len > 0 ? Phase.PAYLOAD : Phase.HEADER;
    } else if (opcode === OPCODE.CLOSE || opcode === OPCODE.PING || opcode === OPCODE.PONG) {
      if (!fin || len > 125) throw wsError("control frames must be final and at most 125 bytes", WsClose.PROTOCOL_ERROR);
      this.phase = Phase.CONTROL;
      this.control = [];
      if (len === 0) this.finishControl();
    } else {
      throw wsError(`unknown opcode ${opcode}`, WsClose.PROTOCOL_ERROR);
    }
    return off;
  }

  private finishControl(): void {
    const payload = Buffer.concat(this.control);
    this.control = [];
    this.phase = Phase.HEADER;
    if (this.opcode === OPCODE.PING) {
      this.host.ping(payload);
    } else if (this.opcode === OPCODE.CLOSE) {
      this.emit(); // data before the close frame first
      this.ended = true;
      this.host.close(payload.length >= 2 ? payload.readUInt16BE(0) : undefined);
    }
    // Pongs are ignored: liveness is judged by aiomsg heartbeats.
  }
}
