/**
 * Another protocol on an aiomsg port: a peer's first four bytes, read as a
 * frame length, recognised as HTTP, TLS or a banner (SSH, SMTP...) longer
 * than any greeting, so the error names it instead of "frame of 1213486160
 * bytes". Pure functions; the connection asks them about its first frame.
 */
import { MAX_HELLO_SIZE } from "../dialect.js";
import { ProtocolError } from "../errors.js";

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
