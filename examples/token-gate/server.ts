// A token gate: each new peer is asked for its token ("token?", written to
// that peer only) and must answer with it before anything else reaches it or
// anything it sends is delivered. Messages sent while no peer is admitted
// wait for the first admitted one: a refused peer never sees them. Because
// the question is asked on every connection, a Python client re-authenticates
// after each reconnect without a per-connection hook of its own.
//
//   node dist/token-gate/server.js [port=25000] [token=s3cret] [news=3]
import { Socket } from "aiomsg-ts";

const port = Number(process.argv[2] ?? 25000);
const token = process.argv[3] ?? "s3cret";
const news = Number(process.argv[4] ?? 3);

const server = new Socket({
  admissionTimeout: 5000,
  async admit(peer) {
    peer.send("token?");
    // A client's messages queued while it was disconnected may come before its
    // answer: they are not trusted, so they are read and dropped (up to 100).
    for (let i = 0; i < 100; i++) {
      const m = (await peer.readMessage()).toString();
      if (m.startsWith("token ")) {
        const ok = m === `token ${token}`;
        console.log(`server: ${ok ? "admitted" : "refused"} ${peer.identity.toString("hex").slice(0, 8)}`);
        return ok;
      }
    }
    return false;
  },
});
server.on("error", () => undefined); // refusals are printed above
await server.bind("127.0.0.1", port);
// Buffered until a peer is admitted.
for (let i = 0; i < news; i++) await server.send(`news ${i}`);
console.log(`server: listening on ${port}`);
process.once("SIGINT", () => void server.close());
process.once("SIGTERM", () => void server.close());

for await (const [client, msg] of server.identityMessages()) {
  await server.send(`echo ${msg.toString()}`, { identity: client });
}
