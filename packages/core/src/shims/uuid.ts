/**
 * The `uuid` package's v4(options, buffer) as options.ts calls it, for the
 * browser bundle (build-browser.mjs resolves `uuid` here): 16 random bytes
 * from the page's crypto, with the version 4 and RFC 4122 variant bits.
 */
export function v4(_options: undefined, buf: Uint8Array): Uint8Array {
  globalThis.crypto.getRandomValues(buf.subarray(0, 16));
  buf[6] = (buf[6]! & 0x0f) | 0x40;
  buf[8] = (buf[8]! & 0x3f) | 0x80;
  return buf;
}
