/**
 * Another protocol on an aiomsg port: a peer's first four bytes, read as a
 * frame length, recognised as HTTP, TLS or a banner (SSH, SMTP...) longer
 * than any greeting, so the error names it instead of "frame of 1213486160
 * bytes". Pure functions; the connection asks them about its first frame
 * (handshakeLimit). WAKE, the bytes every generation's greeting starts
 * with, is here too: it is what a connection sends before it knows whom it talks to.
 */
import { MAX_HELLO_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";
import type { TransportKind } from "../transport.js";
import type { FrameDecoder } from "./frame.js";

/**
 * The first three bytes of every handshake frame of every generation (each is
 * shorter than 256 bytes, so its length prefix begins 00 00 00). Written
 * before a connection's dialect is known, it commits to none: an auto connect
 * end sends it at once (it wakes a Python 2026.7.1 bind end, which greets on
 * the first byte), and a TS v1 or auto bind end sends it back on the first
 * byte it reads; each completes the frame when it greets. No release sends a
 * greeting as exactly these three bytes and a pause (Python writes a frame's
 * 4-byte prefix in one write), so an auto connect end that hears WAKE alone
 * knows the bind end waits for its HELLO.
 */
export const WAKE = Buffer.from([0, 0, 0]);

/**
 * The frame limit until the handshake is done: a first frame over
 * MAX_HELLO_SIZE is refused, named as another protocol when it is one.
 */
export function handshakeLimit(kind: TransportKind, direction: "bind" | "connect", dialectKnown: () => boolean): FrameDecoder["limit"] {
  return {
    size: MAX_HELLO_SIZE,
    // A connect end's peer is a bind end: a first "length" whose top byte is
    // set (16 MiB or more) is another protocol's text (SSH-, 220 ...); a
    // smaller one over the bound is an aiomsg-shaped frame, refused below
    // as an oversized handshake.
    foreign: (prefix) => notAiomsg(prefix, kind) ?? (direction === "connect" && prefix >>> 24 !== 0 ? notAGreeting(prefix) : undefined),
    refuse: (length) =>
      !dialectKnown()
        ? new ProtocolError("ERR_AIOMSG_UNKNOWN_DIALECT", `first frame (${length} bytes) is longer than any handshake (at most ${MAX_HELLO_SIZE} bytes)`)
        : new ProtocolError("ERR_AIOMSG_BAD_HELLO", `first frame (${length} bytes) is longer than a handshake may be (at most ${MAX_HELLO_SIZE} bytes)`),
  };
}

/**
 * A bind end's first four bytes announce a frame longer than any greeting of
 * any generation and are no protocol notAiomsg knows: another protocol
 * (SSH, SMTP, a database...) answering on this port.
 */
export function notAGreeting(prefix: number): ProtocolError {
  const bytes = [prefix >>> 24, (prefix >>> 16) & 0xff, (prefix >>> 8) & 0xff, prefix & 0xff];
  const text = bytes.every((b) => b >= 0x20 && b < 0x7f) ? ` ("${String.fromCharCode(...bytes)}...")` : "";
  return new ProtocolError(
    "ERR_AIOMSG_NOT_AIOMSG",
    `the peer's first bytes${text} announce a frame of ${prefix} bytes, longer than any aiomsg greeting (at most ${MAX_HELLO_SIZE}): not an aiomsg bind end; is this the right port?`,
  );
}

/**
 * A peer's first four bytes read as a frame length, when they are really
 * another protocol's opening: say so instead of "frame of 1213486160 bytes".
 */
export function notAiomsg(prefix: number, kind: string): ProtocolError | undefined {
  const b0 = prefix >>> 24;
  const b1 = (prefix >>> 16) & 0xff;
  const text = String.fromCharCode(b0, b1, (prefix >>> 8) & 0xff, prefix & 0xff);
  if (text === "HTTP" || /^(GET |POST|PUT |HEAD)$/.test(text)) {
    return new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", `the peer speaks HTTP ("${text}..."), not aiomsg: is this the right port?`);
  }
  if ((b0 === 0x16 || b0 === 0x15) && b1 === 0x03) {
    return new ProtocolError(
      "ERR_AIOMSG_NOT_AIOMSG",
      kind === "tcp"
        ? "the peer speaks TLS, not plain aiomsg: connect with { tls } (or wss://), or bind with { tls }"
        : "the peer sent a TLS record inside TLS: not an aiomsg peer",
    );
  }
  return undefined;
}
