// Fan-in from several producers: one socket connects to every producer's bind
// port and merges what they send into one stream, tagged with the sender.
//
//   node dist/fan-in/collector.js TOTAL PORT [PORT...]
import { Socket } from "aiomsg-ts";

const [total, ...ports] = process.argv.slice(2).map(Number);
if (!total || ports.length === 0) {
  console.error("usage: collector.js TOTAL PORT [PORT...]");
  process.exit(2);
}

const collector = new Socket();
for (const port of ports) await collector.connect("127.0.0.1", port);

let n = 0;
for await (const [from, msg] of collector.identityMessages()) {
  console.log(`${from.toString("hex").slice(0, 8)} ${msg.toString()}`);
  if (++n === total) break;
}
await collector.close();
