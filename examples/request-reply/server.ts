// Request/reply by identity: the server answers each request to the peer that
// sent it, whatever the send mode. Runs until Ctrl-C.
//
//   node dist/request-reply/server.js [port=25000]
import { Socket } from "aiomsg-ts";

const port = Number(process.argv[2] ?? 25000);
const server = new Socket();
await server.bind("127.0.0.1", port);
console.log(`server: listening on ${port}`);
process.once("SIGINT", () => void server.close());
process.once("SIGTERM", () => void server.close());

for await (const [client, request] of server.identityMessages()) {
  await server.send(`${request.toString().toUpperCase()} (for ${client.toString("hex").slice(0, 8)})`, { identity: client });
}
