// A scaled proxy: one process connects upstream to a job source and binds
// downstream for its own pool of workers. Start several proxies against the
// same source: the source round-robins between them, each proxy round-robins
// between its workers.
//
//   node dist/proxy/proxy.js UPSTREAM_PORT DOWNSTREAM_PORT
import { Socket } from "aiomsg-ts";

const [upstreamPort, downstreamPort] = process.argv.slice(2).map(Number);
if (!upstreamPort || downstreamPort === undefined) {
  console.error("usage: proxy.js UPSTREAM_PORT DOWNSTREAM_PORT");
  process.exit(2);
}

const upstream = new Socket();
const downstream = new Socket({ sendMode: "roundrobin", deliveryGuarantee: "at-least-once" });
await downstream.bind("127.0.0.1", downstreamPort);
// Take work only once a worker is there to do it.
await new Promise((r) => downstream.once("peerConnected", r));
await upstream.connect("127.0.0.1", upstreamPort);
console.log(`proxy: ${upstreamPort} -> ${downstreamPort}`);

const stop = async (): Promise<void> => {
  await upstream.close();
  await downstream.close();
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());

// send() waits at the high-water mark, so a slow pool slows the intake.
for await (const job of upstream) await downstream.send(job);
