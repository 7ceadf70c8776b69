/**
 * WebSocket transports over Node streams (docs/protocol.md "WebSocket sub-transport"):
 * - SniffingTransport, the bind end of a v1 or auto port: the first byte of
 *   an accepted connection says raw aiomsg (0x00) or a WebSocket upgrade
 *   ('G'), as Python 2026.7.1 decides; over TLS the sniff happens after
 *   decryption, so one port serves raw, TLS, ws:// and wss:// peers.
 * - WsClientTransport, the connect end's ws:// and wss:// (made by dial() in
 *   node.ts once the upgrade succeeded).
 * Every batch of aiomsg frames travels as one binary message. What the peer
 * is told on a close follows RFC 6455: 1000 for an orderly close, 1001 for a
 * timeout or a peer gone away, 1002 for a protocol error, 1008 for a refusal
 * or a slow consumer, 1009 for a frame too large.
 */
import type { Socket as NetSocket } from "node:net";
import { randomFillSync } from "node:crypto";
import { TLSSocket } from "node:tls";
import { AiomsgError, ProtocolError } from "../errors.js";
import type { TransportHandlers, TransportKind, WriteDone } from "../transport.js";
import {
  MAX_UPGRADE_REQUEST,
  OPCODE,
  WsClose,
  WsReader,
  applyMask,
  binaryFrameHeader,
  closeFrame,
  controlFrame,
  frameHeader,
  parseUpgradeRequest,
  upgradeResponse,
  wsError,
} from "../ws/frames.js";
import { closeCodeFor } from "../ws/close.js";
import { NodeStreamTransport, endSocket, writeBatch } from "./stream.js";

const enum Mode {
  SNIFF,
  RAW,
  HTTP,
  WS,
}

export class SniffingTransport extends NodeStreamTransport {
  private mode = Mode.SNIFF;
  private http: Buffer | undefined;
  private reader: WsReader | undefined;
  private readonly tls: boolean;
  /** A Close frame went out: nothing may follow it (RFC 6455 5.5.1; Chromium fails the connection, 1006, on a second one). */
  private closeSent = false;

  constructor(sock: NetSocket) {
    super(sock);
    this.tls = sock instanceof TLSSocket;
  }

  get kind(): TransportKind {
    if (this.mode === Mode.HTTP || this.mode === Mode.WS) return this.tls ? "wss" : "ws";
    return this.tls ? "tls" : "tcp";
  }

  protected receive(chunk: Buffer): void {
    switch (this.mode) {
      case Mode.RAW:
        this.h.data(chunk);
        return;
      case Mode.WS:
        this.reader!.push(chunk);
        return;
      case Mode.HTTP:
        this.upgrade(chunk);
        return;
      case Mode.SNIFF: {
        if (chunk.length === 0) return;
        const first = chunk[0]!;
        if (first === 0x47) {
          this.mode = Mode.HTTP;
          this.upgrade(chunk);
        } else if (first === 0x00) {
          this.mode = Mode.RAW;
          this.directReads = !this.tls;
          this.h.data(chunk);
        } else if (first === 0x16 && !this.tls) {
          throw new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", "a TLS ClientHello on a plain port: the peer speaks TLS (bind with { tls } to serve it)");
        } else {
          throw new ProtocolError(
            "ERR_AIOMSG_UNKNOWN_DIALECT",
            `first byte 0x${first.toString(16).padStart(2, "0")} starts neither an aiomsg frame nor a WebSocket upgrade`,
          );
        }
      }
    }
  }

  /** Gather the upgrade request (at most 8 KiB), answer it, and pass what follows to the frame reader. */
  private upgrade(chunk: Buffer): void {
    const buf = this.http !== undefined ? Buffer.concat([this.http, chunk]) : chunk;
    const end = buf.indexOf("\r\n\r\n", 0, "latin1");
    if (end < 0 || end + 4 > MAX_UPGRADE_REQUEST) {
      if (end >= 0 || buf.length > MAX_UPGRADE_REQUEST) throw wsError("upgrade request exceeds 8 KiB", 400);
      this.http = Buffer.from(buf);
      return;
    }
    this.http = undefined;
    const key = parseUpgradeRequest(buf.subarray(0, end).toString("latin1"));
    this.sock.write(upgradeResponse(key));
    this.mode = Mode.WS;
    this.reader = new WsReader("server", {
      data: (bytes) => this.h.data(bytes),
      ping: (payload) => this.sock.write(controlFrame(OPCODE.PONG, payload)),
      close: (code) => {
        // Echo the peer's code (RFC 6455 5.5.1), then the stream has ended.
        this.sendClose(code ?? WsClose.NORMAL);
        this.h.end();
      },
    });
    if (end + 4 < buf.length) this.reader.push(buf.subarray(end + 4));
  }

  write(chunks: Buffer[], bytes: number, done: WriteDone): void {
    // Over WebSocket the batch travels as one binary message.
    writeBatch(this.sock, this.mode === Mode.WS ? [binaryFrameHeader(bytes), ...chunks] : chunks, done);
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.sock.write(closeFrame(code));
  }

  end(): void {
    if (this.mode === Mode.WS) this.sendClose(WsClose.NORMAL);
    endSocket(this.sock);
  }

  /** Drain: a raw aiomsg peer gets a FIN and is read until its own; a WebSocket peer is closed in order (end()). */
  halfClose(): void {
    if (this.mode === Mode.RAW) this.sock.end();
    else this.end();
  }

  destroy(reason?: AiomsgError): void {
    if (this.mode === Mode.HTTP) {
      // Before the upgrade a WebSocket client understands only HTTP.
      this.sock.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      endSocket(this.sock);
    } else if (this.mode === Mode.WS) {
      // Say why before hanging up.
      this.sendClose(closeCodeFor(reason));
      endSocket(this.sock);
    } else {
      this.sock.destroy();
    }
  }
}

/** The connect end of ws:// and wss://, after a successful upgrade (see dial() in node.ts). */
export class WsClientTransport extends NodeStreamTransport {
  private readonly reader: WsReader;
  /** A Close frame went out: nothing may follow it. */
  private closeSent = false;

  constructor(
    sock: NetSocket,
    readonly kind: "ws" | "wss",
    /** Bytes that followed the 101 response in the same read. */
    private readonly early: Buffer | undefined,
  ) {
    super(sock);
    this.reader = new WsReader("client", {
      data: (bytes) => this.h.data(bytes),
      ping: (payload) => this.sock.write(controlFrame(OPCODE.PONG, payload, true)),
      close: (code) => {
        this.sendClose(code ?? WsClose.NORMAL);
        this.h.end();
      },
    });
  }

  override start(h: TransportHandlers): void {
    super.start(h);
    const early = this.early;
    if (early !== undefined && early.length > 0) queueMicrotask(() => this.onData(early));
    this.sock.resume(); // dial paused it after the upgrade response
  }

  protected receive(chunk: Buffer): void {
    this.reader.push(chunk);
  }

  write(chunks: Buffer[], bytes: number, done: WriteDone): void {
    // Client frames are masked (RFC 6455 5.3): the batch is copied once into
    // one frame with a fresh key.
    const key = randomFillSync(Buffer.allocUnsafe(4));
    const head = frameHeader(OPCODE.BINARY, bytes, key);
    const body = Buffer.allocUnsafe(bytes);
    let off = 0;
    for (const c of chunks) {
      c.copy(body, off);
      off += c.length;
    }
    applyMask(body, key, 0);
    writeBatch(this.sock, [head, body], done);
  }

  private sendClose(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.sock.write(closeFrame(code, true));
  }

  end(): void {
    this.sendClose(WsClose.NORMAL);
    endSocket(this.sock);
  }

  destroy(reason?: AiomsgError): void {
    this.sendClose(closeCodeFor(reason));
    endSocket(this.sock);
  }
}
