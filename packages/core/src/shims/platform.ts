/**
 * platform.ts for the browser bundle: a page only dials WebSockets, so
 * STREAMS is the constant false and esbuild drops the bind-end and
 * auto-detection code behind it.
 */
export const STREAMS = false;
