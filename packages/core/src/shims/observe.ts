/**
 * observe.ts for the browser bundle: a page has no diagnostics channels, so
 * OBSERVED is the constant false and esbuild drops every publishing site
 * (each checks it first).
 */
export const OBSERVED = false;

export const channels = {} as typeof import("../observe.js").channels;
