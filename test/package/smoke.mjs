// Runtime smoke set, run from a project that installed the packed tarball, under
// Node, Bun or Deno: one round trip TS <-> TS over TCP, TLS, ws:// and wss://
// (loopback), and one with a real Python aiomsg echo bind end.
// Usage: <runtime> smoke.mjs PKI_DIR [PYTHON_ECHO_PORT]
// Prints "ok <check> <detail>" or "FAIL <check> <error>" per check; exit 0 when all passed.
import process from "node:process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "aiomsg-ts";

const [pkiDir, pyPort] = process.argv.slice(2);
const ca = readFileSync(join(pkiDir, "ca.pem"));
const serverTls = { cert: readFileSync(join(pkiDir, "server.pem")), key: readFileSync(join(pkiDir, "server.key")) };

function deadline(ms, what) {
  let timer;
  const p = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return { p, cancel: () => clearTimeout(timer) };
}

async function check(name, fn) {
  const d = deadline(10_000, name);
  try {
    const detail = await Promise.race([fn(), d.p]);
    console.log(`ok ${name} ${detail}`);
    return true;
  } catch (err) {
    console.log(`FAIL ${name} ${err?.code ?? ""} ${err?.message ?? err}`);
    return false;
  } finally {
    d.cancel();
  }
}

/** A bind end and a connect end: request one way, reply by identity the other. */
async function loopback(name, bindOptions, target, connectOptions) {
  const server = new Socket();
  const client = new Socket();
  try {
    await server.bind("127.0.0.1", 0, bindOptions);
    const peer = new Promise((resolve) => client.once("peerConnected", resolve));
    await client.connect(target(server.port), connectOptions);
    await client.sendString(`ping over ${name}`);
    const [identity, data] = await server.recvIdentity();
    await server.send(`pong: ${Buffer.from(data).toString()}`, { identity });
    const reply = await client.recvString();
    const info = await peer;
    if (reply !== `pong: ping over ${name}`) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
    return `${info.transport ?? "?"} ${info.protocol} "${reply}"`;
  } finally {
    await Promise.all([client.close({ linger: 0 }), server.close({ linger: 0 })]);
  }
}

const results = [];
results.push(await check("tcp", () => loopback("tcp", {}, (p) => `tcp://127.0.0.1:${p}`, {})));
results.push(await check("tls", () => loopback("tls", { tls: serverTls }, (p) => `tcp://127.0.0.1:${p}`, { tls: { ca } })));
results.push(await check("ws", () => loopback("ws", {}, (p) => `ws://127.0.0.1:${p}/`, {})));
results.push(await check("wss", () => loopback("wss", { tls: serverTls }, (p) => `wss://127.0.0.1:${p}/`, { tls: { ca } })));
if (pyPort) {
  results.push(
    await check("python", async () => {
      const sock = new Socket();
      try {
        await sock.connect("127.0.0.1", Number(pyPort));
        for (let i = 0; i < 3; i++) await sock.sendString(`py-${i}`);
        const got = [];
        for (let i = 0; i < 3; i++) got.push(await sock.recvString());
        if (got.join(",") !== "py-0,py-1,py-2") throw new Error(`echoed ${JSON.stringify(got)}`);
        return `echoed ${got.join(",")}`;
      } finally {
        await sock.close({ linger: 500 });
      }
    }),
  );
}
process.exitCode = results.every(Boolean) ? 0 : 1;
