/**
 * The WebSocket sub-transport of v1 bind ends (wire.md "WebSocket
 * sub-transport"): a connection whose first byte is 'G' is an RFC 6455
 * upgrade; after it, the payloads of binary messages, concatenated, are the
 * aiomsg byte stream (message boundaries mean nothing). Server frames are
 * unmasked, client frames must be masked, text frames are refused, pings are
 * answered, no subprotocol and no extension are negotiated.
 */
import { createHash } from "node:crypto";
import { ProtocolError } from "./errors.js";

/** Upgrade requests longer than this are refused (as Python's 8 KiB cap). */
export const MAX_UPGRADE_REQUEST = 8 * 1024;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export const enum WsClose {
  PROTOCOL_ERROR = 1002,
  UNSUPPORTED_DATA = 1003,
}

export interface WsHost {
  /** Raw bytes to the TCP/TLS socket (handshake response and control frames). */
  writeRaw(bytes: Buffer): void;
  /** Unwrapped aiomsg bytes for the frame decoder. */
  stream(bytes: Buffer): void;
  /** The upgrade completed. */
  opened(): void;
  /** The client sent a close frame (already answered). */
  closedByPeer(): void;
}

const enum Phase {
  HTTP,
  HEADER,
  PAYLOAD,
  CONTROL,
}

export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Header of one unmasked server binary frame carrying `length` bytes. */
export function binaryFrameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x82, length]);
  if (length < 0x10000) {
    const h = Buffer.allocUnsafe(4);
    h[0] = 0x82;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = 0x82;
  h[1] = 127;
  h.writeUInt32BE(Math.floor(length / 0x100000000), 2);
  h.writeUInt32BE(length >>> 0, 6);
  return h;
}

export function controlFrame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

export function closeFrame(code: number): Buffer {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code, 0);
  return controlFrame(0x8, body);
}

/** Server side of one WebSocket connection, fed with raw socket bytes. */
export class WsServerSession {
  private phase = Phase.HTTP;
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private mask = Buffer.alloc(4);
  private maskOff = 0;
  private opcode = 0;
  private control: Buffer[] = [];
  private ended = false;
  /** Payload bytes of this read, handed on together: tiny frames cost their bytes, not a view each. */
  private out: Buffer[] = [];

  constructor(private readonly host: WsHost) {}

  /** Feed socket bytes; throws ProtocolError (with the close code to send in `wsClose`). */
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
    this.host.stream(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private consume(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (buf.length > 0 && !this.ended) {
      switch (this.phase) {
        case Phase.HTTP: {
          const end = buf.indexOf("\r\n\r\n", 0, "latin1");
          if (end < 0) {
            if (buf.length > MAX_UPGRADE_REQUEST) throw wsError("upgrade request exceeds 8 KiB", 400);
            this.pending = Buffer.from(buf);
            return;
          }
          if (end + 4 > MAX_UPGRADE_REQUEST) throw wsError("upgrade request exceeds 8 KiB", 400);
          this.upgrade(buf.subarray(0, end).toString("latin1"));
          buf = buf.subarray(end + 4);
          this.phase = Phase.HEADER;
          break;
        }
        case Phase.HEADER: {
          const used = this.header(buf);
          if (used === 0) {
            this.pending = Buffer.from(buf);
            return;
          }
          buf = buf.subarray(used);
          break;
        }
        case Phase.PAYLOAD:
        case Phase.CONTROL: {
          const take = Math.min(this.remaining, buf.length);
          const part = buf.subarray(0, take);
          // The socket's read buffers are ours: unmask in place.
          for (let i = 0; i < take; i++) part[i]! ^= this.mask[(this.maskOff + i) & 3]!;
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
          break;
        }
      }
    }
  }

  private upgrade(request: string): void {
    const [requestLine, ...lines] = request.split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const key = headers.get("sec-websocket-key");
    const ok =
      /^GET \S+ HTTP\/1\.1$/.test(requestLine ?? "") &&
      (headers.get("upgrade") ?? "").toLowerCase() === "websocket" &&
      (headers.get("connection") ?? "").toLowerCase().split(/\s*,\s*/).includes("upgrade") &&
      headers.get("sec-websocket-version") === "13" &&
      key !== undefined &&
      Buffer.from(key, "base64").length === 16;
    if (!ok) throw wsError("not a valid WebSocket upgrade request", 400);
    // No Sec-WebSocket-Protocol and no Sec-WebSocket-Extensions: none is negotiated.
    this.host.writeRaw(
      Buffer.from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${acceptKey(key!)}\r\n\r\n`,
        "latin1",
      ),
    );
    this.host.opened();
  }

  /** Parse one frame header at the start of buf; returns bytes used, 0 if incomplete. */
  private header(buf: Buffer): number {
    if (buf.length < 2) return 0;
    const b0 = buf[0]!;
    const b1 = buf[1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) throw wsError("reserved bits set (no extension was negotiated)", WsClose.PROTOCOL_ERROR);
    if ((b1 & 0x80) === 0) throw wsError("client frames must be masked", WsClose.PROTOCOL_ERROR);
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
    if (buf.length < off + 4) return 0;
    buf.copy(this.mask, 0, off, off + 4);
    this.maskOff = 0;
    this.remaining = len;
    this.opcode = opcode;
    if (opcode === 0x1) throw wsError("text frames are not aiomsg data", WsClose.UNSUPPORTED_DATA);
    if (opcode === 0x0 || opcode === 0x2) {
      this.phase = Phase.PAYLOAD;
    } else if (opcode === 0x8 || opcode === 0x9 || opcode === 0xa) {
      if (!fin || len > 125) throw wsError("control frames must be final and at most 125 bytes", WsClose.PROTOCOL_ERROR);
      this.phase = Phase.CONTROL;
      this.control = [];
      if (len === 0) this.finishControl();
    } else {
      throw wsError(`unknown opcode ${opcode}`, WsClose.PROTOCOL_ERROR);
    }
    return off + 4;
  }

  private finishControl(): void {
    const payload = Buffer.concat(this.control);
    this.control = [];
    this.phase = Phase.HEADER;
    if (this.opcode === 0x9) {
      this.host.writeRaw(controlFrame(0xa, payload));
    } else if (this.opcode === 0x8) {
      this.emit(); // data before the close frame first
      this.ended = true;
      this.host.writeRaw(controlFrame(0x8, payload.subarray(0, 2)));
      this.host.closedByPeer();
    }
    // Pongs are ignored: liveness is judged by aiomsg heartbeats.
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

function wsError(message: string, code: number): WsError {
  return new WsError(`WebSocket: ${message}`, code);
}
