// Builds dist/browser.js (one minified ES module for pages: no Node import
// left) from src/browser.ts with esbuild, and dist/browser.d.ts, its declarations (in
// terms of Uint8Array, no @types/node needed), generated from the source by
// browser-dts.mjs. Run by `pnpm build` after tsc (whose own dist/browser.js
// and dist/browser.d.ts these replace).
import { build } from "esbuild";
import { readFileSync, readdirSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { browserDeclarations } from "./browser-dts.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = (p) => path.join(root, "src", p);

/**
 * node:events -> src/shims/events.ts, node:buffer -> src/shims/buffer.ts,
 * src/observe.ts -> src/shims/observe.ts, src/platform.ts -> src/shims/platform.ts, src/wire/foreign.ts ->
 * src/shims/foreign-off.ts, src/log.ts -> src/shims/log.ts (no
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
      // Hot paths import Buffer (Node's global Buffer is a getter, called on every use): the page's stand-in.
      if (args.path === "node:buffer") return { path: src("shims/buffer.ts") };
      return { errors: [{ text: `${args.path} has no browser shim (imported by ${args.importer})` }] };
    });
    // The debug log: DEBUG is the constant false, so `if (DEBUG) debug(...)` goes.
    b.onResolve({ filter: /^\.\/log\.js$/ }, (args) => (args.importer.startsWith(src("")) ? { path: src("shims/log.ts") } : undefined));
    // No diagnostics channels in a page: the publishing sites go (src/shims/observe.ts).
    b.onResolve({ filter: /^\.\/observe\.js$/ }, (args) => (args.importer.startsWith(src("")) ? { path: src("shims/observe.ts") } : undefined));
    // No TCP or TLS in a page: the bind-end and auto-detection code goes (src/shims/platform.ts).
    b.onResolve({ filter: /^\.\.?\/platform\.js$/ }, (args) => (args.importer.startsWith(src("")) ? { path: src("shims/platform.ts") } : undefined));
    // options.ts's one use of uuid (a random v4 identity): src/shims/uuid.ts.
    b.onResolve({ filter: /^uuid$/ }, () => ({ path: src("shims/uuid.ts") }));
    // Another protocol's opening cannot reach a page's WebSocket as a frame: no naming of it.
    b.onResolve({ filter: /^\.\/wire\/foreign\.js$/ }, (args) => (args.importer.startsWith(src("")) ? { path: src("shims/foreign-off.ts") } : undefined));
    // The legacy and early wires have no WebSocket transport: stand-ins (src/shims/wires-off.ts).
    b.onResolve({ filter: /^\.\/(legacy|early)\.js$/ }, (args) =>
      args.importer.startsWith(src("wire")) ? { path: src("shims/wires-off.ts") } : undefined,
    );
    b.onResolve({ filter: /^(@msgpack\/msgpack|buffer|events)$/ }, (args) => ({
      errors: [{ text: `${args.path} must not be in the browser bundle (imported by ${args.importer})` }],
    }));
  },
};

const options = {
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
  absWorkingDir: root,
  // Class fields as assignments in the constructor (TypeScript's
  // useDefineForClassFields false) rather than [[Define]] field declarations:
  // a field declared without a value (a constructor parameter property, one
  // set later) then costs nothing. The core never declares a field over an
  // accessor or over a field its base class sets, where the two would differ.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
};

const words = (text) => text.match(/[A-Za-z_$][\w$]*/g) ?? [];

/**
 * The property names esbuild may shorten (mangleProps): those of the core's
 * own objects, which a page never sees. A name is kept whole when it is also
 * - a word of TypeScript's lib declarations (ES and DOM: what the platform
 *   defines or calls, such as then, length, onmessage, bufferedAmount);
 * - a word of dist/browser.d.ts (the page's API: options, events, stats);
 * - a word of the Node stand-ins whose objects reach the page (the payload
 *   Buffer, the socket's EventEmitter), or of Node's process (observe.ts and
 *   options.ts read globalThis.process, which a page may have);
 * - a word inside a string or template literal of the bundled source (a name
 *   looked up by string, such as an option checked by name).
 * Everything else the bundle reads with a dot is the core's own. Each name is
 * renamed everywhere at once, so a field and its uses stay in step.
 */
function internalNames(declarations, first) {
  const require = createRequire(import.meta.url);
  const keep = new Set(words(declarations));
  const lib = path.dirname(require.resolve("typescript/lib/lib.d.ts"));
  for (const f of readdirSync(lib)) if (/^lib\..*\.d\.ts$/.test(f)) for (const w of words(readFileSync(path.join(lib, f), "utf8"))) keep.add(w);
  const nodeProcess = path.join(path.dirname(require.resolve("@types/node/package.json")), "process.d.ts");
  for (const f of [src("shims/buffer.ts"), src("shims/events.ts"), nodeProcess]) for (const w of words(readFileSync(f, "utf8"))) keep.add(w);
  for (const input of Object.keys(first.metafile.inputs)) {
    const file = path.resolve(root, input);
    const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
    const visit = (node) => {
      // Module specifiers and literal types are gone from the bundle: only values count.
      if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node) || ts.isLiteralTypeNode(node)) return;
      if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) for (const w of words(node.text)) keep.add(w);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  const js = first.outputFiles.find((f) => f.path.endsWith(".js")).text;
  return [...new Set([...js.matchAll(/\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]))].filter((n) => !keep.has(n)).sort();
}

const declarations = browserDeclarations(root);
const first = await build({ ...options, write: false, metafile: true });
const internal = internalNames(declarations, first);
await build({ ...options, mangleProps: new RegExp(`^(?:${internal.map((n) => n.replace(/\$/g, "\\$")).join("|")})$`) });
await mkdir(path.join(root, "dist"), { recursive: true });
await writeFile(path.join(root, "dist", "browser.d.ts"), declarations);
// tsc's map of its own dist/browser.d.ts would describe the file just replaced.
await rm(path.join(root, "dist", "browser.d.ts.map"), { force: true });
