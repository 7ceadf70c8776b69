/**
 * When a frame leaves (frame-writer.ts, WriteMeter.batching): a frame queued
 * while the socket writes nothing else goes at once; a batch the socket
 * writes in one go (the ACKs owed, the queue drained when room opens) leaves
 * in one write per peer, however idle the socket was. Over a recording
 * transport, so each write() call is counted.
 */
import { describe, expect, it } from "vitest";
import { ACK_BATCH, AckBatcher } from "../../src/ack-batcher.js";
import { FrameWriter, type WriteMeter } from "../../src/frame-writer.js";
import { Room } from "../../src/room.js";
import type { Transport, WriteDone } from "../../src/transport.js";
import { fakePeer } from "./fakes.js";

/** A transport that records each write() (its frames' count) and completes it at once. */
function recordingTransport(): Transport & { writes: number[] } {
  const writes: number[] = [];
  return {
    writes,
    kind: "tcp",
    remote: "test",
    start() {},
    write(chunks: Buffer[], bytes: number, done: WriteDone) {
      // Every frame here is 4 + 1 + 3 bytes.
      writes.push(bytes / 8);
      done();
    },
    buffered: 0,
    progress: undefined,
    pause() {},
    resume() {},
    end() {},
    halfClose() {},
    destroy() {},
  } as unknown as Transport & { writes: number[] };
}

function writer(meter: WriteMeter) {
  const transport = recordingTransport();
  const w = new FrameWriter(transport, meter, { released() {}, failed() {}, unwritten() {}, settled() {}, sent() {} });
  return { w, writes: transport.writes };
}

const HEAD = Buffer.from([3]);
const EMPTY = Buffer.alloc(0);
const body = Buffer.from("abc");
const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe("write batching", () => {
  it("a frame queued while the socket writes nothing goes at once", () => {
    const meter = { bytes: 0, batching: 0 };
    const { w, writes } = writer(meter);
    w.frame(HEAD, body);
    expect(writes).toEqual([1]);
    // The recording transport completed it at once: the socket is idle again.
    w.frame(HEAD, body);
    expect(writes).toEqual([1, 1]);
  });

  it("while the socket writes a batch, no frame goes at once: the batch leaves in one write at the end of the tick", async () => {
    const meter = { bytes: 0, batching: 0 };
    const { w, writes } = writer(meter);
    meter.batching++;
    for (let i = 0; i < 5; i++) w.frame(HEAD, body);
    meter.batching--;
    expect(writes).toEqual([]);
    await tick();
    expect(writes).toEqual([5]);
  });

  it("the ACKs owed to a peer are written in one call while the meter says a batch is under way", () => {
    const meter = { bytes: 0, batching: 0 };
    const acks = new AckBatcher(20, new Room(1e9, 1e6), meter);
    const a = fakePeer("a");
    const seen: Array<[number, number]> = [];
    const writeAcks = a.conn.writeAcks.bind(a.conn);
    a.conn.writeAcks = (ids: Buffer, from: number, count: number) => {
      seen.push([meter.batching, count]);
      writeAcks(ids, from, count);
    };
    for (let i = 0; i < ACK_BATCH; i++) acks.push(a, Buffer.alloc(16, i));
    expect(seen).toEqual([[1, ACK_BATCH]]);
    expect(meter.batching).toBe(0);
  });

  it("a run of ACKs is framed back to back, each as the dialect frames one", () => {
    const meter = { bytes: 0, batching: 0 };
    const { w } = writer(meter);
    const frames: Buffer[] = [];
    (w as unknown as { transport: { write: (c: Buffer[], b: number, d: WriteDone) => void } }).transport.write = (chunks, _bytes, done) => {
      frames.push(Buffer.concat(chunks));
      done();
    };
    const ids = Buffer.alloc(3 + 16 * 3);
    for (let i = 0; i < 3; i++) ids.fill(0x10 + i, 3 + 16 * i, 19 + 16 * i);
    w.idFrames(Buffer.from([5]), ids, 3, 3, Buffer.from([0, 1]));
    const one = (n: number) => Buffer.concat([Buffer.from([0, 0, 0, 19, 5]), Buffer.alloc(16, 0x10 + n), Buffer.from([0, 1])]);
    expect(Buffer.concat(frames)).toEqual(Buffer.concat([one(0), one(1), one(2)]));
  });
});
