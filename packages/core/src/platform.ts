/**
 * What this build of the core can meet. STREAMS: byte-stream transports (TCP
 * and TLS) and what comes with them: bind ends, protocol auto-detection and
 * WAKE (connection.ts), the TLS probe after a silent refusal and the parking
 * of one replica behind two addresses (redial.ts). The browser bundle
 * (scripts/build-browser.mjs) swaps in shims/platform.ts, where it is the
 * constant false, so that esbuild drops the code behind it: a page only
 * dials WebSocket URLs.
 */
export const STREAMS: boolean = true;
