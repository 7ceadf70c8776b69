/**
 * The npm package as a user installs it: the tarball `npm pack` makes from an
 * unbuilt copy (prepack builds it), installed with npm into an empty project, used
 * from .mjs, .cjs and TypeScript (moduleResolution nodenext and bundler). The
 * README's Quick start and Usage are run as written by readme.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Procs, type Proc } from "../cli/helpers.js";
import { installedProject, packedTarball, run } from "./helpers.js";

let dir = "";
let pkgDir = "";
const procs = new Procs();

beforeAll(async () => {
  dir = await installedProject("install", ["typescript@5.9.3", "@types/node@20"], { type: "module" });
  pkgDir = path.join(dir, "node_modules", "aiomsg-ts");
}, 300_000);
afterAll(async () => {
  await procs.killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const node = (label: string, args: string[], env?: NodeJS.ProcessEnv) => run(label, process.execPath, args, { cwd: dir, env, timeoutMs: 60_000 });
const tsc = (project: string) => node(`tsc -p ${project}`, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", project]);

function walk(root: string): string[] {
  return readdirSync(root).flatMap((n) => (statSync(path.join(root, n)).isDirectory() ? walk(path.join(root, n)).map((f) => path.join(n, f)) : [n]));
}

// One round trip over loopback TCP and a misuse error, the same in every module flavour.
const ROUND_TRIP = `
  const server = new Socket();
  await server.bind("127.0.0.1", 0);
  const client = new Socket();
  await client.connect("127.0.0.1", server.port);
  await client.sendString("hello from " + FLAVOUR);
  console.log(await server.recvString());
  try {
    new Socket({ identity: new Uint8Array(3) });
  } catch (err) {
    console.log(err instanceof AiomsgError ? "AiomsgError " + (err as AiomsgError).code : "other error " + String(err));
  }
  await client.close({ linger: 0 });
  await server.close({ linger: 0 });
`;
// Compiles only if the package's types reach the compiler (with no types, sendString would be any); never called.
const TYPED = `const typesOnly = () => {\n    // @ts-expect-error sendString takes a string\n    void server.sendString(42);\n  };\n  void typesOnly;\n`;
const js = (s: string) => s.replace(" as AiomsgError", "");

function expectRoundTrip(p: Proc, flavour: string): void {
  expect(p.code, p.describe()).toBe(0);
  expect(p.out[0]).toBe(`hello from ${flavour}`);
  expect(p.out[1]).toMatch(/^AiomsgError ERR_AIOMSG_[A-Z_]+$/);
}

describe("packed tarball", () => {
  it("npm pack of an unbuilt copy builds through prepack: README, LICENSE, ESM and CommonJS code with types, sources", async () => {
    const list = await run("tar tzf", "tar", ["tzf", await packedTarball()]);
    expect(list.code, list.describe()).toBe(0);
    const files = new Set(list.out.map((f) => f.replace(/^package\//, "")));
    for (const f of ["package.json", "README.md", "LICENSE", "bin/aiomsg-ts.js", "dist/index.js", "dist/index.d.ts", "dist/index.js.map", "dist/cli/main.js", "dist/cjs/index.js", "dist/cjs/index.d.ts", "dist/cjs/package.json", "dist/browser.js", "dist/browser.d.ts", "src/index.ts"]) {
      expect(files.has(f), `${f} in the tarball`).toBe(true);
    }
    expect(readFileSync(path.join(pkgDir, "LICENSE"), "utf8")).toContain("Apache License\n                           Version 2.0, January 2004");
    const manifest = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    expect(manifest.license).toBe("Apache-2.0");
    expect(JSON.parse(readFileSync(path.join(pkgDir, "dist", "cjs", "package.json"), "utf8"))).toEqual({ type: "commonjs" });
  });

  it("every source and declaration map in the installed package names files that ship with it or embeds their text", () => {
    const maps = walk(path.join(pkgDir, "dist")).filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(40);
    const missing: string[] = [];
    for (const rel of maps) {
      const map = JSON.parse(readFileSync(path.join(pkgDir, "dist", rel), "utf8")) as { sources: string[]; sourceRoot?: string; sourcesContent?: (string | null)[] };
      map.sources.forEach((s, i) => {
        // A source resolves when the file ships, or when the map embeds its text (the esbuild browser bundle does).
        const target = path.resolve(path.dirname(path.join(pkgDir, "dist", rel)), map.sourceRoot ?? "", s);
        if (!existsSync(target) && typeof map.sourcesContent?.[i] !== "string") missing.push(`${rel} -> ${s}`);
      });
    }
    expect(missing).toEqual([]);
  });

  it("with --enable-source-maps a stack trace from the CommonJS build points into the shipped src/*.ts", async () => {
    writeFileSync(path.join(dir, "stack.cjs"), `const { Socket } = require("aiomsg-ts");\ntry { new Socket({ identity: new Uint8Array(3) }); } catch (err) { console.log(err.stack); }\n`);
    const p = await node("stack.cjs", ["--enable-source-maps", "stack.cjs"]);
    expect(p.code, p.describe()).toBe(0);
    const frame = p.out.find((l) => l.includes("node_modules/aiomsg-ts/"));
    expect(frame, p.describe()).toMatch(/node_modules\/aiomsg-ts\/src\/[\w/-]+\.ts:\d+:\d+/);
    const file = /node_modules\/aiomsg-ts\/(src\/[\w/-]+\.ts)/.exec(frame!)![1]!;
    expect(existsSync(path.join(pkgDir, file))).toBe(true);
  });

  it("an .mjs file imports it and round-trips a message over TCP", async () => {
    writeFileSync(path.join(dir, "esm.mjs"), `import { Socket, AiomsgError } from "aiomsg-ts";\nconst FLAVOUR = "mjs";\n${js(ROUND_TRIP)}`);
    expectRoundTrip(await node("esm.mjs", ["esm.mjs"]), "mjs");
  });

  it("a .cjs file requires it and round-trips a message over TCP", async () => {
    writeFileSync(path.join(dir, "req.cjs"), `const { Socket, AiomsgError } = require("aiomsg-ts");\nconst FLAVOUR = "cjs";\n(async () => {${js(ROUND_TRIP)}})();\n`);
    expectRoundTrip(await node("req.cjs", ["req.cjs"]), "cjs");
  });

  it("TypeScript with moduleResolution nodenext (ESM .ts and CommonJS .cts) type-checks against the shipped types, compiles and runs", async () => {
    const src = path.join(dir, "ts");
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, "esm.ts"), `import { Socket, AiomsgError } from "aiomsg-ts";\nconst FLAVOUR: string = "ts-nodenext";\n${ROUND_TRIP.replace("await client.close", `${TYPED}  await client.close`)}`);
    writeFileSync(path.join(src, "req.cts"), `import { Socket, AiomsgError } from "aiomsg-ts";\nconst FLAVOUR: string = "cts-nodenext";\nasync function main(): Promise<void> {${ROUND_TRIP.replace("await client.close", `${TYPED}  await client.close`)}}\nvoid main();\n`);
    writeFileSync(path.join(dir, "tsconfig.nodenext.json"), JSON.stringify({
      compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, types: ["node"], rootDir: "ts", outDir: "out-nodenext" },
      include: ["ts/esm.ts", "ts/req.cts"],
    }));
    const check = await tsc("tsconfig.nodenext.json");
    expect(check.code, check.describe()).toBe(0);
    expectRoundTrip(await node("esm.js", ["out-nodenext/esm.js"]), "ts-nodenext");
    expectRoundTrip(await node("req.cjs", ["out-nodenext/req.cjs"]), "cts-nodenext");
  });

  it("TypeScript with moduleResolution bundler type-checks (tsc --noEmit) and its compiled ESM runs", async () => {
    const src = path.join(dir, "tsb");
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, "app.ts"), `import { Socket, AiomsgError } from "aiomsg-ts";\nconst FLAVOUR: string = "ts-bundler";\n${ROUND_TRIP.replace("await client.close", `${TYPED}  await client.close`)}`);
    const compilerOptions = { module: "esnext", moduleResolution: "bundler", target: "es2022", strict: true, types: ["node"], rootDir: "tsb", outDir: "out-bundler" };
    writeFileSync(path.join(dir, "tsconfig.bundler.json"), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true }, include: ["tsb/app.ts"] }));
    writeFileSync(path.join(dir, "tsconfig.bundler-emit.json"), JSON.stringify({ compilerOptions, include: ["tsb/app.ts"] }));
    const check = await tsc("tsconfig.bundler.json");
    expect(check.code, check.describe()).toBe(0);
    expect(existsSync(path.join(dir, "out-bundler"))).toBe(false);
    const emit = await tsc("tsconfig.bundler-emit.json");
    expect(emit.code, emit.describe()).toBe(0);
    expectRoundTrip(await node("app.js", ["out-bundler/app.js"]), "ts-bundler");
  });
});
