// Migrating a 2019 fleet: one `auto` bind socket answers each peer in its own
// wire (2019.x legacy or 2026 v1) and relays every message to every other peer.
//
//   node dist/migrate-2019/bridge.js [port=25000]
import { Socket } from "aiomsg-ts";

const port = Number(process.argv[2] ?? 25000);
const bridge = new Socket({ protocol: "auto" });
bridge.on("peerConnected", (p) => console.log(`bridge: ${p.identity.toString("hex").slice(0, 8)} speaks ${p.protocol}`));
await bridge.bind("127.0.0.1", port);
console.log(`bridge: listening on ${port}`);
process.once("SIGINT", () => void bridge.close());
process.once("SIGTERM", () => void bridge.close());

for await (const [from, msg] of bridge.identityMessages()) {
  for (const peer of bridge.peerIdentities) {
    if (!peer.equals(from)) await bridge.send(msg, { identity: peer });
  }
}
