import { debuglog } from "node:util";

/** `NODE_DEBUG=aiomsg` turns this on; payload bytes are never logged. */
export const debug = debuglog("aiomsg");

export function hex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString("hex");
}
