// Pub/sub fan-out: every subscriber gets every message.
//
//   node dist/pubsub/publisher.js [port=25000] [subscribers=2] [ticks=5]
import { Socket } from "aiomsg-ts";

const [port = 25000, subscribers = 2, ticks = 5] = process.argv.slice(2).map(Number);

const pub = new Socket({ sendMode: "publish" });
await pub.bind("127.0.0.1", port);
// A publish reaches the peers connected at the time: wait for the audience.
while (pub.peerCount < subscribers) await new Promise((r) => pub.once("peerConnected", r));

for (let seq = 0; seq < ticks; seq++) {
  await pub.sendJson({ seq, price: 100 + seq });
}
await pub.close();
console.log(`publisher: ${ticks} ticks to ${subscribers} subscribers`);
