// Generates dist/browser.d.ts, the declarations of `aiomsg-ts/browser`, from
// the source, so that they cannot drift from it. tsc emits the declarations of
// src/browser.ts and what it imports (into a temporary directory); this takes
// every declaration that src/browser.ts exports, with its doc comment, and
// writes them into one file that needs no Node types: Buffer becomes
// Uint8Array (what a page passes in; what the socket returns is the bundle's
// own small Buffer, src/shims/buffer.ts, a Uint8Array subclass), and the Socket class is
// flattened into its public members plus typed EventEmitter methods.
// Used by build-browser.mjs.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";

const HEADER = `/**
 * Declarations of \`aiomsg-ts/browser\` (dist/browser.js), for pages: no Node
 * types are needed (compile with \`"types": []\`). Payloads and identities are
 * Uint8Array; what the socket returns is a Uint8Array subclass (a small
 * Buffer of the bundle's own, whose toString("utf8"|"latin1"|"hex") works).
 *
 * Generated from the source by packages/core/scripts/browser-dts.mjs at build
 * time: edit the source's declarations and doc comments, not this file.
 * test/browser/aiomsg-browser.test.ts compiles a page against it.
 */
`;

/** The EventEmitter methods a page uses, typed by the socket's event map (Node's own are untyped here). */
const LISTENER_METHODS = `
  on<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  once<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  off<K extends keyof SocketEvents>(event: K, listener: Listener<K>): this;
  removeAllListeners(event?: keyof SocketEvents): this;
  listenerCount(event: keyof SocketEvents): number;`;

/**
 * Members left out of the page's Socket: `[Symbol.asyncDispose]` needs the
 * esnext.disposable lib, which a page's tsconfig may lack (close() does the same).
 */
const OMIT_MEMBERS = new Set(["[Symbol.asyncDispose]"]);

/** Declarations of src/browser.ts and everything it imports, emitted by tsc into `outDir`. */
function emitDeclarations(root, outDir) {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.build.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  const options = { ...config.options, outDir, declaration: true, emitDeclarationOnly: true, declarationMap: false, sourceMap: false };
  const program = ts.createProgram([path.join(root, "src", "browser.ts")], options);
  const result = program.emit();
  const errors = ts.getPreEmitDiagnostics(program).concat(result.diagnostics).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, ts.createCompilerHost(options)));
  return options;
}

const isPublic = (member) =>
  !(member.name && ts.isPrivateIdentifier(member.name)) &&
  !(ts.getCombinedModifierFlags(member) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) &&
  !ts.getJSDocTags(member).some((t) => t.tagName.text === "internal");

/**
 * A node's text with its doc comment. The opening comment of a file describes
 * the file, not its first declaration, so the first statement gets none.
 */
function textOf(node) {
  const sf = node.getSourceFile();
  const first = sf.statements[0] === node;
  const docs = first ? [] : (node.jsDoc ?? []);
  const doc = docs.length > 0 ? docs.at(-1).getText(sf) + "\n" : "";
  return doc + sf.text.slice(node.getStart(sf, false), node.end);
}

/** Buffer -> Uint8Array in code, not in comments. */
function withoutBuffer(text) {
  return text
    .split("\n")
    .map((line) => (/^\s*(\/\*\*|\*|\/\/)/.test(line) ? line : line.replace(/\bBuffer\b/g, "Uint8Array")))
    .join("\n");
}

/** A class member's text, re-indented from its column in the emitted file to `pad`. */
function memberText(member, pad) {
  const sf = member.getSourceFile();
  const column = sf.getLineAndCharacterOfPosition(member.getStart(sf, false)).character;
  const strip = new RegExp(`^ {0,${column}}`);
  return textOf(member)
    .split("\n")
    .map((l) => (l.trim() === "" ? "" : pad + l.replace(strip, "")))
    .join("\n");
}

/** The classes from `cls` up its `extends` chain that come from this package (not node_modules). */
function ownClassChain(checker, cls) {
  const chain = [];
  for (let c = cls; c !== undefined; ) {
    chain.push(c);
    const base = c.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0];
    let sym = base && checker.getSymbolAtLocation(base.expression);
    if (sym && sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    const decl = sym?.declarations?.find(ts.isClassDeclaration);
    c = decl && !decl.getSourceFile().fileName.includes("node_modules") ? decl : undefined;
  }
  return chain;
}

/** `export declare class Socket`: the public members of Socket and its own base classes, subclass first. */
function socketClass(checker, cls) {
  const seen = new Set();
  const members = [];
  for (const c of ownClassChain(checker, cls)) {
    for (const m of c.members) {
      const name = m.name ? m.name.getText() : "constructor";
      if (!isPublic(m) || OMIT_MEMBERS.has(name) || seen.has(name)) continue;
      seen.add(name);
      members.push(m);
    }
  }
  // Base members first, in source order, as a reader expects (constructor, properties, methods).
  members.sort((a, b) => (a.parent === b.parent ? 0 : a.parent === cls ? 1 : b.parent === cls ? -1 : 0));
  const doc = cls.jsDoc?.length ? cls.jsDoc.at(-1).getText() + "\n" : "";
  const body = members.map((m) => memberText(m, "  ")).join("\n");
  return `type Listener<K extends keyof SocketEvents> = (...args: SocketEvents[K]) => void;\n\n${doc}export declare class Socket {\n${body}\n${LISTENER_METHODS}\n}`;
}

/** The text of dist/browser.d.ts, generated from the package at `root`. */
export function browserDeclarations(root) {
  const outDir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-browser-dts-"));
  try {
    const options = emitDeclarations(root, outDir);
    const entry = path.join(outDir, "browser.d.ts");
    const program = ts.createProgram([entry], { ...options, noEmit: true });
    const checker = program.getTypeChecker();
    const sf = program.getSourceFile(entry);
    const parts = [];
    for (let sym of checker.getExportsOfModule(checker.getSymbolAtLocation(sf))) {
      if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
      for (const decl of sym.declarations ?? []) {
        // A `declare const X` lives in a statement of its own.
        const node = ts.isVariableDeclaration(decl) ? decl.parent.parent : decl;
        if (ts.isClassDeclaration(node) && node.name?.text === "Socket" && node.getSourceFile() === sf) parts.push(socketClass(checker, node));
        else parts.push(textOf(node));
      }
    }
    return `${HEADER}\n${withoutBuffer(parts.join("\n\n"))}\n`;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}
