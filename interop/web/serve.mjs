#!/usr/bin/env node
// `pnpm demo:web`: serves interop/web/index.html and the browser bundle
// (packages/core/dist/browser.js) over node:http, next to two real Python
// aiomsg 2026.7.1 bind sockets (interop/soak/peer.py): one that echoes each
// message to its sender, and an at-least-once one that also sends
// alo-py-0, alo-py-1, … every half second. Prints the URL to open; Ctrl-C stops it.
// startWebServer() is also what test/browser/aiomsg-browser.test.ts serves the page with.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const FILES = {
  "/": [path.join(HERE, "index.html"), "text/html; charset=utf-8"],
  "/index.html": [path.join(HERE, "index.html"), "text/html; charset=utf-8"],
  "/browser.js": [path.join(ROOT, "packages/core/dist/browser.js"), "text/javascript; charset=utf-8"],
  "/browser.js.map": [path.join(ROOT, "packages/core/dist/browser.js.map"), "application/json"],
};

/**
 * A static server for the page and the bundle (plus `extra`: URL path -> [file, content type]);
 * resolves once listening with { url, port, close }.
 */
export async function startWebServer({ host = "127.0.0.1", port = 0, extra = {} } = {}) {
  const files = { ...FILES, ...extra };
  const server = createServer(async (req, res) => {
    const file = files[new URL(req.url ?? "/", "http://x").pathname];
    if (req.method !== "GET" || file === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    try {
      const body = await readFile(file[0]);
      res.writeHead(200, { "content-type": file[1], "cache-control": "no-store" }).end(body);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n(run pnpm build first)\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const bound = server.address().port;
  return {
    url: `http://${host}:${bound}/`,
    port: bound,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Starts interop/soak/peer.py as a bind end; resolves with { port, child } after its READY line. */
function startPeer(python, args) {
  const child = spawn(python, [path.join(ROOT, "interop/soak/peer.py"), "--role", "bind", "--port", "0", ...args], {
    // aiomsg logs to stderr (e.g. "No connections!" while the source has no peer): kept for a failure report only.
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  const stderr = [];
  createInterface({ input: child.stderr }).on("line", (line) => stderr.push(line) > 50 && stderr.shift());
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const m = /^READY (\d+)$/.exec(line);
      if (m) resolve({ port: Number(m[1]), child });
      else if (line.startsWith("R ")) console.log(`python ${args.includes("at-least-once") ? "at-least-once" : "echo"} bind received: ${line.slice(2)}`);
    });
    child.once("exit", (code) => reject(new Error(`peer.py exited with ${code}:\n${stderr.join("\n")}`)));
  });
}

async function main() {
  const { provisionPython } = await import("../lib/python.mjs");
  const python = await provisionPython("v1");
  const echo = await startPeer(python, ["--echo", "--print-recv"]);
  const alo = await startPeer(python, ["--delivery", "at-least-once", "--echo", "--print-recv", "--source-prefix", "alo-py-", "--source-count", "0", "--source-interval", "0.5"]);
  // PORT, else 8080, else any free port.
  const web = await startWebServer({ port: Number(process.env.PORT ?? 8080) }).catch(() => startWebServer({ port: 0 }));
  const url = `${web.url}?rr=${encodeURIComponent(`ws://127.0.0.1:${echo.port}/`)}&alo=${encodeURIComponent(`ws://127.0.0.1:${alo.port}/`)}`;
  console.log(`Python aiomsg 2026.7.1 echo bind on ws://127.0.0.1:${echo.port}/, at-least-once bind on ws://127.0.0.1:${alo.port}/`);
  console.log(`open ${url}`);
  const stop = async () => {
    echo.child.kill();
    alo.child.kill();
    await web.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
