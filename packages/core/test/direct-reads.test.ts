/**
 * Large frames read straight into their buffers (transports/stream.ts): a
 * plain TCP connection, accepted or dialled, switches to reading into buffers
 * of its own once a large frame begins. Frames then arrive intact and in
 * order whatever their sizes and however reading is paused, a large frame's
 * bytes arrive in the frame's own buffer, and sockets exchanging large and
 * small messages (receive queue full, frame budget short) lose nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { FrameDecoder, Socket, bodies, encodeFrame } from "../src/index.js";
import { StreamTransport } from "../src/transports/stream.js";
import { cleanupRegistry, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

const MiB = 1024 * 1024;
/** Small and large frames, some just over a read, some many reads long. */
const SIZES = [10, 3 * MiB + 1, 100, 70_000, 200_000, MiB, 5, 2 * MiB, 130 * 1024, 1];

/** A TCP connection on loopback: the accepted end and the dialled end. */
async function tcpPair(): Promise<{ accepted: net.Socket; dialled: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  track(() => new Promise<void>((r) => server.close(() => r())));
  const acceptedP = once(server, "connection") as Promise<[net.Socket]>;
  const dialled = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await once(dialled, "connect");
  const [accepted] = await acceptedP;
  track(() => {
    accepted.destroy();
    dialled.destroy();
  });
  return { accepted, dialled };
}

/**
 * Read frames from `s` through a StreamTransport and a FrameDecoder (as a
 * connection does), pausing reading for a moment after the frames listed in
 * `pauseAfter`. Resolves with the frames and the memory each read went to.
 */
function readFrames(s: net.Socket, count: number, pauseAfter: number[] = []): Promise<{ frames: Buffer[]; readInto: Set<ArrayBufferLike> }> {
  const frames: Buffer[] = [];
  const readInto = new Set<ArrayBufferLike>();
  const transport = new StreamTransport(s);
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(
      bodies((body) => {
        frames.push(body);
        if (pauseAfter.includes(frames.length)) {
          transport.pause();
          setTimeout(() => transport.resume(), 20);
        }
        if (frames.length === count) resolve({ frames, readInto });
      }),
    );
    transport.start({
      data: (chunk) => {
        readInto.add(chunk.buffer);
        decoder.push(chunk);
      },
      readTarget: (min) => decoder.readTarget(min),
      end: () => reject(new Error("end before every frame")),
      error: reject,
      close: () => undefined,
    });
  });
}

function expectFrames(got: Buffer[], bodies: Buffer[]): void {
  expect(got.map((b) => b.length)).toEqual(bodies.map((b) => b.length));
  for (let i = 0; i < bodies.length; i++) expect(got[i]!.equals(bodies[i]!), `frame ${i} (${bodies[i]!.length} bytes)`).toBe(true);
}

describe("direct reads into large frames", () => {
  for (const side of ["accepted", "dialled"] as const) {
    it(`${side === "accepted" ? "an accepted" : "a dialled"} TCP socket delivers small and large frames intact, in order, across pauses, the large ones read in their own buffer`, async () => {
      const pair = await tcpPair();
      const [reader, writer] = side === "accepted" ? [pair.accepted, pair.dialled] : [pair.dialled, pair.accepted];
      const bodies = SIZES.map((n) => randomBytes(n));
      const done = readFrames(reader, bodies.length, [2, 4, 6]);
      for (const b of bodies) writer.write(encodeFrame(b));
      const { frames, readInto } = await done;
      expectFrames(frames, bodies);
      // Every frame larger than a read after the switch was read into its own buffer, not copied out of reads.
      for (const f of frames.slice(2)) if (f.length >= 200_000) expect(readInto.has(f.buffer), `${f.length}-byte frame`).toBe(true);
    });
  }

  it("frames before, during and after the switch keep their order when a large frame starts mid-read", async () => {
    const { accepted, dialled } = await tcpPair();
    // Everything in one write: the large frame begins inside a read full of small frames.
    const bodies = [...Array.from({ length: 200 }, (_, i) => randomBytes(1 + (i % 50))), randomBytes(MiB + 7), ...Array.from({ length: 200 }, (_, i) => randomBytes(1 + (i % 70)))];
    const done = readFrames(accepted, bodies.length);
    dialled.write(Buffer.concat(bodies.map((b) => encodeFrame(b))));
    expectFrames((await done).frames, bodies);
  });
});

describe("sockets exchanging large messages", () => {
  async function pair(bindOpts = {}, connectOpts = {}): Promise<[Socket, Socket]> {
    const server = sock(bindOpts);
    await server.bind("127.0.0.1", 0);
    const client = sock(connectOpts);
    const up = once(server, "peerConnected");
    await client.connect("127.0.0.1", server.port!);
    await up;
    return [server, client];
  }

  it("both ways, with the receive queue filling and pausing reading, every message arrives intact and in order", async () => {
    const opts = { highWaterMark: 4 * MiB, peerHighWaterMark: 512 * 1024 };
    const [server, client] = await pair(opts, opts);
    const bodies = Array.from({ length: 24 }, (_, i) => randomBytes([300_000, 17, 1_500_000, 64 * 1024 + 3, 2][i % 5]!));
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      const sending = Promise.all(bodies.map((b) => from.send(b)));
      // Read slowly: one message per turn of the event loop, so that the queue fills and reading pauses.
      const got: Buffer[] = [];
      while (got.length < bodies.length) {
        got.push(await to.recv());
        await new Promise((r) => setImmediate(r));
      }
      await sending;
      expectFrames(got, bodies);
    }
  });

  it("three peers sending frames larger than half the frame budget all arrive intact", async () => {
    // maxFrameSize 1.5 MiB: the partial-frame budget (3 MiB) holds two such frames at a time.
    const server = sock({ maxFrameSize: 1.5 * MiB });
    await server.bind("127.0.0.1", 0);
    const clients: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const c = sock({ maxFrameSize: 1.5 * MiB });
      await c.connect("127.0.0.1", server.port!);
      clients.push(c);
    }
    await waitFor(() => server.peerCount === 3, 5000, "three peers");
    const sent = new Map<string, Buffer>();
    const sends: Promise<void>[] = [];
    for (let round = 0; round < 4; round++) {
      for (const [i, c] of clients.entries()) {
        const b = randomBytes(Math.floor(1.4 * MiB));
        b.write(`${i}:${round}:`, "latin1");
        sent.set(`${i}:${round}`, b);
        sends.push(c.send(b));
      }
    }
    const got = new Map<string, Buffer>();
    while (got.size < sent.size) {
      const m = await server.recv();
      got.set(m.subarray(0, 4).toString("latin1").split(":").slice(0, 2).join(":"), m);
    }
    await Promise.all(sends);
    for (const [k, b] of sent) expect(got.get(k)?.equals(b), k).toBe(true);
  });
});
