// A TS replica of the fleet test: a bind end on 0.0.0.0:<port> in its own
// namespace that prints every message it receives ("g <payload>", one line
// each) and drains on SIGTERM (the one-line recipe of docs/fleet.md), then
// prints {"ev":"drained",...} with its stats and exits.
import { Socket } from "../../packages/core/dist/index.js";

const port = Number(process.argv[2] ?? 25000);
const sock = new Socket({ linger: 4000 });
process.once("SIGTERM", () => void sock.drain());
await sock.bind("0.0.0.0", port);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
sock.on("peerConnected", (p) => out({ ev: "peerConnected", remote: p.remote }));
sock.on("peerDisconnected", (p) => out({ ev: "peerDisconnected", remote: p.remote, reason: p.reason?.code }));
out({ ev: "ready", port });
let lines = [];
let flushing = false;
for await (const m of sock) {
  lines.push(`g ${m.toString()}\n`);
  if (!flushing) {
    flushing = true;
    setImmediate(() => {
      process.stdout.write(lines.join(""));
      lines = [];
      flushing = false;
    });
  }
}
process.stdout.write(lines.join(""));
lines = [];
const st = sock.stats();
out({ ev: "drained", messagesIn: st.messagesIn, dropped: st.dropped });
process.exitCode = 0;
