/**
 * platform.ts for the browser bundle: a page only dials WebSockets, so
 * STREAMS is the constant false and esbuild drops the bind-end and
 * auto-detection code behind it, and copy16 is a loop.
 */
export const STREAMS = false;

/** platform.ts's copy16 as a loop: fewer bytes. */
export function copy16(dst: Uint8Array, off: number, src: Uint8Array, from: number): void {
  for (let i = 0; i < 16; i++) dst[off + i] = src[from + i]!;
}
