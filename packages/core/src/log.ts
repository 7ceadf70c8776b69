/**
 * The debug log (`NODE_DEBUG=aiomsg`; payload bytes are never logged) and
 * hex(), how logs and errors print an identity. Callers write
 * `if (DEBUG) debug(...)`, so that a message's arguments cost nothing while
 * the log is off; the browser bundle has its own copy of this module
 * (shims/log.ts), where DEBUG is the constant false and the calls are dropped.
 */
import { debuglog } from "node:util";

export const debug = debuglog("aiomsg");

/** Whether NODE_DEBUG names aiomsg (Node reads it once, at startup). */
export const DEBUG: boolean = debug.enabled;

export function hex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}
