// Mutual TLS: the bind end admits only clients with a certificate signed by
// its CA (aiomsg itself has no authentication), and clients verify the server.
//
//   sh make-certs.sh certs
//   node dist/mutual-tls/server.js certs [port=25000] [count=3]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "aiomsg-ts";

const [dir = "certs", port = "25000", count = "3"] = process.argv.slice(2);
const pem = (name: string): Buffer => readFileSync(join(dir, name));

const server = new Socket();
server.on("error", (err) => console.log(`server: refused a connection (${err.code})`));
await server.bind("127.0.0.1", Number(port), {
  tls: { cert: pem("server.pem"), key: pem("server.key"), ca: pem("ca.pem"), requestCert: true, rejectUnauthorized: true },
});
console.log(`server: mutual TLS on ${port}`);

let n = 0;
for await (const msg of server) {
  console.log(`server: ${msg.toString()}`);
  if (++n === Number(count)) break;
}
await server.close();
