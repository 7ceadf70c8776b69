// Builds dist/browser.js (one minified ES module for pages: no Node import
// left) from src/browser.ts with esbuild, and dist/browser.d.ts, its declarations (in
// terms of Uint8Array, no @types/node needed), generated from the source by
// browser-dts.mjs. Run by `pnpm build` after tsc (whose own dist/browser.js
// and dist/browser.d.ts these replace).
import { build } from "esbuild";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { browserDeclarations } from "./browser-dts.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = (p) => path.join(root, "src", p);

/**
 * node:events -> src/shims/events.ts, src/log.ts -> src/shims/log.ts (no
 * debug log: its calls are dropped); any other node: import fails the build,
 * and so does @msgpack/msgpack (a page hands it in with useMsgpack(), see
 * src/msgpack.ts). Buffer is the small
 * Uint8Array subclass of src/shims/buffer.ts, injected by browser-globals.ts.
 */
const nodeShims = {
  name: "node-shims",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (args.path === "node:events") return { path: src("shims/events.ts") };
      return { errors: [{ text: `${args.path} has no browser shim (imported by ${args.importer})` }] };
    });
    // The debug log: DEBUG is the constant false, so `if (DEBUG) debug(...)` goes.
    b.onResolve({ filter: /^\.\/log\.js$/ }, (args) => (args.importer.startsWith(src("")) ? { path: src("shims/log.ts") } : undefined));
    // options.ts's one use of uuid (a random v4 identity): src/shims/uuid.ts.
    b.onResolve({ filter: /^uuid$/ }, () => ({ path: src("shims/uuid.ts") }));
    // The legacy and early wires have no WebSocket transport: stand-ins (src/shims/wires-off.ts).
    b.onResolve({ filter: /^\.\/(legacy|early)\.js$/ }, (args) =>
      args.importer.startsWith(src("wire")) ? { path: src("shims/wires-off.ts") } : undefined,
    );
    b.onResolve({ filter: /^(@msgpack\/msgpack|buffer|events)$/ }, (args) => ({
      errors: [{ text: `${args.path} must not be in the browser bundle (imported by ${args.importer})` }],
    }));
  },
};

await build({
  entryPoints: [src("browser.ts")],
  outfile: path.join(root, "dist", "browser.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  inject: [src("shims/browser-globals.ts")],
  plugins: [nodeShims],
  minify: true,
  sourcemap: true,
  legalComments: "eof",
  logLevel: "warning",
});
await mkdir(path.join(root, "dist"), { recursive: true });
await writeFile(path.join(root, "dist", "browser.d.ts"), browserDeclarations(root));
// tsc's map of its own dist/browser.d.ts would describe the file just replaced.
await rm(path.join(root, "dist", "browser.d.ts.map"), { force: true });
