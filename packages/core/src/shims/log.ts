/**
 * log.ts for the browser bundle: a page has no NODE_DEBUG, so DEBUG is the
 * constant false and esbuild drops every `if (DEBUG) debug(...)` with its
 * arguments; hex() as log.ts's.
 */
export const DEBUG = false;

export function debug(_message: string, ..._args: unknown[]): void {}

export function hex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}
