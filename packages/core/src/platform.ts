/**
 * What this build of the core can meet. STREAMS: byte-stream transports (TCP
 * and TLS), hence bind ends, protocol auto-detection and WAKE (connection.ts).
 * The browser bundle (scripts/build-browser.mjs) swaps in shims/platform.ts,
 * where it is the constant false, so that esbuild drops the code behind it: a
 * page only dials WebSockets.
 */
export const STREAMS: boolean = true;
