// The fleet test's client: two connect ends following one name (resolve
// "all" on A records, or srv://), one at-least-once and one at-most-once,
// each sending a numbered message every few ms round-robin over whatever
// replicas the name has ("a<n>" and "m<n>"). Events go to stdout as JSON lines
// with the addresses they concern. "stop" on stdin: stop sending, drain() both
// sockets, print {"ev":"done", sent, dropped} and exit.
import { promises as dns } from "node:dns";
import readline from "node:readline";
import { Socket } from "../../packages/core/dist/index.js";

const [target, intervalArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 5);
const out = (o) => process.stdout.write(`${JSON.stringify({ ...o, at: Date.now() })}\n`);
// The namespace's resolv.conf names the fleet's dnsmasq; short timeouts so an unreachable server fails fast.
const resolver = new dns.Resolver({ timeout: 400, tries: 1 });
const options = { resolve: "all", resolver, refresh: { min: 250, max: 2000 } };
const socks = {
  a: new Socket({ deliveryGuarantee: "at-least-once", resendInterval: 1500, linger: 5000 }),
  m: new Socket({ linger: 5000 }),
};
const sent = { a: 0, m: 0 };
const dropped = { a: [], m: [] };
for (const [k, s] of Object.entries(socks)) {
  s.on("resolved", (e) => out({ ev: "resolved", sock: k, addresses: e.addresses, added: e.added, removed: e.removed }));
  s.on("peerConnected", (p) => out({ ev: "peerConnected", sock: k, address: p.address }));
  s.on("peerDraining", (p) => out({ ev: "peerDraining", sock: k, address: p.address }));
  s.on("peerDisconnected", (p) => out({ ev: "peerDisconnected", sock: k, address: p.address, reason: p.reason?.code }));
  s.on("dropped", (d) => dropped[k].push(`${d.code} ${d.payload.toString()}`));
  s.on("error", (e) => {
    if (e.code === "ERR_AIOMSG_RESOLVE_FAILED") out({ ev: "resolveFailed", sock: k, message: e.message });
  });
  await s.connect(target, options);
}
let sending = true;
const pump = (async () => {
  while (sending) {
    await Promise.all([socks.a.send(`a${sent.a++}`), socks.m.send(`m${sent.m++}`)]);
    await new Promise((r) => setTimeout(r, interval));
  }
})();
out({ ev: "started" });
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  if (line === "stats") {
    out({ ev: "stats", a: socks.a.stats().targets, m: socks.m.stats().targets });
    return;
  }
  if (line !== "stop") return;
  sending = false;
  await pump;
  await Promise.all([socks.a.drain({ timeout: 8000 }), socks.m.drain({ timeout: 8000 })]);
  out({ ev: "done", sent, dropped, resends: socks.a.stats().resends });
  rl.close();
});
