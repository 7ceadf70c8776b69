// Builds dist/browser.js (one ES module for pages: no Node import left) from
// src/browser.ts with esbuild, and dist/browser.d.ts, its declarations (in
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

/** node:events -> the `events` package, node:util -> a no-op debuglog; any other node: import fails the build. */
const nodeShims = {
  name: "node-shims",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (args.path === "node:events") return { path: path.join(root, "node_modules", "events", "events.js") };
      if (args.path === "node:util") return { path: src("shims/debuglog.ts") };
      return { errors: [{ text: `${args.path} has no browser shim (imported by ${args.importer})` }] };
    });
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
  sourcemap: true,
  legalComments: "eof",
  logLevel: "warning",
});
await mkdir(path.join(root, "dist"), { recursive: true });
await writeFile(path.join(root, "dist", "browser.d.ts"), browserDeclarations(root));
// tsc's map of its own dist/browser.d.ts would describe the file just replaced.
await rm(path.join(root, "dist", "browser.d.ts.map"), { force: true });
