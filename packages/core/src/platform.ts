/**
 * What this build of the core can meet. STREAMS: byte-stream transports (TCP
 * and TLS) and what comes with them: bind ends, protocol auto-detection and
 * WAKE (connection.ts), the TLS probe after a silent refusal and the parking
 * of one replica behind two addresses (redial.ts). The browser bundle
 * (scripts/build-browser.mjs) swaps in shims/platform.ts, where it is the
 * constant false, so that esbuild drops the code behind it: a page only
 * dials WebSocket URLs. copy16: a hot copy, unrolled here and a loop there.
 */
export const STREAMS: boolean = true;
/**
 * Copy the 16 bytes at `src[from]` to `dst[off]` (a message id), unrolled:
 * measured alone, 8 ns against 22-28 ns for a loop and 58 ns for
 * Buffer.copy(). The browser bundle's copy is a loop (bytes count there).
 */
export function copy16(dst: Uint8Array, off: number, src: Uint8Array, from: number): void {
  dst[off] = src[from]!;
  dst[off + 1] = src[from + 1]!;
  dst[off + 2] = src[from + 2]!;
  dst[off + 3] = src[from + 3]!;
  dst[off + 4] = src[from + 4]!;
  dst[off + 5] = src[from + 5]!;
  dst[off + 6] = src[from + 6]!;
  dst[off + 7] = src[from + 7]!;
  dst[off + 8] = src[from + 8]!;
  dst[off + 9] = src[from + 9]!;
  dst[off + 10] = src[from + 10]!;
  dst[off + 11] = src[from + 11]!;
  dst[off + 12] = src[from + 12]!;
  dst[off + 13] = src[from + 13]!;
  dst[off + 14] = src[from + 14]!;
  dst[off + 15] = src[from + 15]!;
}
