// Builds dist/browser.js (one ES module for pages: no Node import left) from
// src/browser.ts with esbuild, and copies its hand-written declarations
// (types/browser.d.ts, in terms of Uint8Array, no @types/node needed) to
// dist/browser.d.ts. Run by `pnpm build` after tsc.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

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
await copyFile(path.join(root, "types", "browser.d.ts"), path.join(root, "dist", "browser.d.ts"));
