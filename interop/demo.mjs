#!/usr/bin/env node
// The README's time-server demo, across languages: an aiomsg-ts bind socket
// publishes the current time every second; a real Python aiomsg 2026.7.1 process
// (python/time_client.py) connects and prints each message it gets.
//
//   node interop/demo.mjs [--seconds 5] [--docker true]
//
// Exits 0 once Python has printed every timestamp that was published (messages
// published before Python connected are buffered and flushed to it: docs/protocol.md),
// 1 otherwise. --docker runs the Python client in the py-v1 compose service.
import { Socket } from "aiomsg-ts";
import { execa } from "execa";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { createInterface } from "node:readline";
import { INTEROP_DIR, provisionPython } from "./lib/python.mjs";

const opts = { seconds: 5, docker: false };
for (let i = 2; i < process.argv.length; i += 2) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]];
  if (flag === "--seconds" && Number(value) >= 1) opts.seconds = Math.floor(Number(value));
  else if (flag === "--docker" && (value === "true" || value === "false")) opts.docker = value === "true";
  else {
    console.error("usage: node interop/demo.mjs [--seconds N>=1] [--docker true|false]");
    process.exit(2);
  }
}

const sock = new Socket({ sendMode: "publish" });
await sock.bind("127.0.0.1", 0);
const port = sock.port;
console.log(`ts: time server bound to 127.0.0.1:${port}, publishing every second for ${opts.seconds} s`);

const clientArgs = ["--host", "127.0.0.1", "--port", String(port)];
let python;
let containerName;
if (opts.docker) {
  containerName = `aiomsg-demo-${randomUUID().slice(0, 8)}`;
  const compose = path.join(INTEROP_DIR, "..", "docker-compose.yml");
  python = execa("docker", ["compose", "-f", compose, "--profile", "interop", "run", "--rm", "-T", "--name", containerName,
    "--entrypoint", "python", "py-v1", "/interop/python/time_client.py", ...clientArgs], { reject: false, buffer: false, stdin: "ignore" });
} else {
  const py = await provisionPython("v1");
  python = execa(py, [path.join(INTEROP_DIR, "python", "time_client.py"), ...clientArgs], {
    reject: false, buffer: false, stdin: "ignore", env: { PYTHONUNBUFFERED: "1" },
  });
}
python.stderr.pipe(process.stderr);

const printed = [];
let onPrinted = () => {};
createInterface({ input: python.stdout }).on("line", (line) => {
  printed.push(line);
  console.log(`python printed: ${line}`);
  onPrinted();
});
let pythonExited = false;
python.then(() => {
  pythonExited = true;
  onPrinted();
});

// Publish now and then once a second, `seconds` times in all.
const sent = [];
await new Promise((resolve) => {
  const tick = async () => {
    const now = new Date().toISOString();
    sent.push(now);
    await sock.send(now);
    console.log(`ts published:   ${now}`);
    if (sent.length >= opts.seconds) {
      clearInterval(timer);
      resolve();
    }
  };
  const timer = setInterval(tick, 1000);
  tick();
});

// Wait (with a deadline) until Python has printed everything that was published.
const deadline = Date.now() + 10_000;
await new Promise((resolve) => {
  const check = () => {
    if (printed.length >= sent.length || pythonExited || Date.now() > deadline) resolve();
  };
  onPrinted = check;
  setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
  check();
});

if (containerName) await execa("docker", ["rm", "-f", containerName], { reject: false });
python.kill("SIGKILL");
await sock.close();

const ok = printed.length === sent.length && printed.every((line, i) => line === sent[i]);
if (ok) {
  console.log(`demo ok: Python printed all ${sent.length} timestamps, in order`);
  process.stderr.write(`EVENT demo-ok ${sent.length}\n`);
  process.exit(0);
}
console.error(`demo FAILED: published ${JSON.stringify(sent)}, Python printed ${JSON.stringify(printed)}`);
process.exit(1);
