/**
 * The browser bundle's stand-ins for the legacy and early wires
 * (build-browser.mjs resolves wire/legacy.js and wire/early.js here): neither
 * has a WebSocket transport, so a page never speaks them. A connect() naming
 * them is refused by browser.ts, and `auto` still tells them apart by a
 * peer's first frame (classifyFirstFrame), then closes because they cannot
 * travel over WebSocket, as the full build does. Their codecs are left out.
 */
import type { Dialect, DialectName } from "../dialect.js";

export { isUtf8 } from "../wire/utf8.js";

function off(name: DialectName): Dialect {
  const no = (): never => {
    throw new Error(`the ${name} wire is not in the browser bundle (it has no WebSocket transport)`);
  };
  return { name, websocket: false, hello: no, parseHello: no, heartbeat: undefined as never, dataHead: undefined as never, requestBefore: undefined as never, requestAfter: undefined as never, ackBefore: undefined as never, ackAfter: undefined as never, dispatch: no };
}

export const legacyDialect = off("legacy");
export const earlyDialect = off("early");
