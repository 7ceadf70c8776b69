// Work distribution to a pool: each job goes to the next worker in turn
// (round-robin), at-least-once, so a job a worker never acknowledged goes to
// another worker. Workers may be Python (worker.py) or TypeScript.
//
//   node dist/work-pool/producer.js [port=25000] [jobs=12] [workers=3]
import { Socket } from "aiomsg-ts";

const [port = 25000, jobs = 12, workers = 3] = process.argv.slice(2).map(Number);

const producer = new Socket({ sendMode: "roundrobin", deliveryGuarantee: "at-least-once" });
let lost = 0;
producer.on("dropped", () => lost++);
await producer.bind("127.0.0.1", port);
console.log(`producer: waiting for ${workers} workers on port ${port}`);

// Without waiting, the first worker to connect would get every queued job.
while (producer.peerCount < workers) await new Promise((r) => producer.once("peerConnected", r));

for (let i = 0; i < jobs; i++) await producer.send(`job-${i}`);
// close() waits (up to linger) until every job is acknowledged.
await producer.close({ linger: 10_000 });
console.log(lost === 0 ? `producer: all ${jobs} jobs acknowledged` : `producer: ${lost} jobs not acknowledged`);
process.exitCode = lost === 0 ? 0 : 1;
