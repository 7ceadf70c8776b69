// How long a TS connect end with protocol "auto" takes from connect() to its
// peer being open, against bind ends of every generation: TS (v1, auto,
// legacy, early) in this process, real Python aiomsg (2026.7.1, 2019.12.3 and
// an early release) as separate processes, and a bind end that says nothing
// before a HELLO (what every v1 bind end looked like to the previous rule,
// which listened 500 ms before speaking v1). Prints one row per bind end.
//   node interop/connect-time.mjs [--runs N] [--early VERSION]
import { Socket } from "aiomsg-ts";
import { once } from "node:events";
import net from "node:net";
import { parseArgs } from "node:util";
import { Agent, Env } from "./lib/harness.mjs";
import { provisionPython, provisionRelease } from "./lib/python.mjs";

const { values } = parseArgs({ options: { runs: { type: "string", default: "30" }, early: { type: "string", default: "2019.5.0" } } });
const RUNS = Number(values.runs);

/** Milliseconds from connect() to peerConnected, `RUNS` times, each with a new socket. */
async function measure(port) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const s = new Socket({ protocol: "auto" });
    const up = once(s, "peerConnected");
    const t0 = performance.now();
    await s.connect("127.0.0.1", port);
    const [info] = await up;
    times.push({ ms: performance.now() - t0, protocol: info.protocol });
    await s.close({ linger: 0 });
  }
  const ms = times.map((t) => t.ms).sort((a, b) => a - b);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  return { protocol: [...new Set(times.map((t) => t.protocol))].join(","), median: q(0.5), p90: q(0.9), max: ms.at(-1) };
}

const rows = [];
const row = (what, r) => {
  rows.push({ what, ...r });
  console.log(`| ${what} | ${r.protocol} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} | ${r.max.toFixed(2)} |`);
};

console.log(`node ${process.version}, ${RUNS} connections each; ms from connect() to peerConnected`);
console.log("| bind end | dialect | median | p90 | max |");
console.log("|---|---|---|---|---|");

for (const protocol of ["v1", "auto", "legacy", "early"]) {
  const b = new Socket({ protocol });
  await b.bind("127.0.0.1", 0);
  row(`aiomsg-ts \`${protocol}\``, await measure(b.port));
  await b.close({ linger: 0 });
}

await provisionPython("v1");
await provisionPython("legacy");
const env = new Env();
for (const [label, kind, version] of [
  ["Python 2026.7.1", "py:v1"],
  ["Python 2019.12.3", "py:legacy"],
  [`Python ${values.early}`, `py@${values.early}`, values.early],
]) {
  if (version) {
    const r = await provisionRelease(version);
    if (!r.ok) throw new Error(`aiomsg ${version}: ${r.error}`);
  }
  const agent = new Agent(env, label, kind, ["--role", "bind", "--port", "0", "--behavior", "sink", "--forever", "true"]);
  const ev = await agent.waitReady({ timeoutMs: 30_000 });
  row(label, await measure(Number(ev.args[0])));
  await agent.kill();
}

// A bind end that accepts and says nothing until it gets a HELLO: the connect
// end waits autoDetectDelay (500 ms), then speaks v1.
const silent = net.createServer((c) => {
  c.on("error", () => undefined);
  let got = Buffer.alloc(0);
  c.on("data", (d) => {
    got = Buffer.concat([got, d]);
    if (got.length >= 22) c.write(Buffer.concat([Buffer.from([0, 0, 0, 18, 1, 1]), Buffer.alloc(16, 0x5a)]));
  });
});
silent.listen(0, "127.0.0.1");
await once(silent, "listening");
row("silent until HELLO (raw)", await measure(silent.address().port));
silent.close();
process.exit(0);
