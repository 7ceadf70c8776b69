/**
 * A Peer over a fake connection: what the policies read of a connection
 * (open, queued bytes and frames, which a peer's room reads on its writer)
 * set by hand, and what they write recorded. No socket, no transport.
 */
import type { Connection } from "../../src/connection.js";
import { Peer } from "../../src/peer.js";
import { putId, type IdWords } from "../../src/frame-writer.js";

export class FakeConn {
  isOpen = true;
  queuedBytes = 0;
  queuedFrames = 0;
  readonly data: Buffer[] = [];
  readonly requests: Buffer[] = [];
  readonly requestPayloads: Buffer[] = [];
  readonly acks: Buffer[] = [];
  /**
   * A peer frames its at-most-once messages on the connection's writer
   * (recorded here), and its room reads the writer's queue (the fields above).
   */
  readonly dialect = { dataHead: Buffer.alloc(0) };
  /** A v1 ACK frame: 4 + 1 + 16 bytes. */
  readonly ackSize = 21;
  readonly writer = ((conn: FakeConn) => ({
    frame: (_head: Uint8Array, payload: Uint8Array): void => {
      conn.data.push(payload as Buffer);
    },
    get queuedBytes(): number {
      return conn.queuedBytes;
    },
    get queuedFrames(): number {
      return conn.queuedFrames;
    },
  }))(this);
  // A connection writes the id into its frame at once (a record is reused once acknowledged): so does this fake.
  writeRequest(id: IdWords, payload: Buffer): void {
    const msgId = Buffer.allocUnsafe(16);
    putId(msgId, 0, id);
    this.requests.push(msgId);
    this.requestPayloads.push(payload);
  }
  writeAcks(ids: Buffer, from: number, count: number): void {
    for (let i = 0; i < count; i++) this.acks.push(Buffer.from(ids.subarray(from + 16 * i, from + 16 * i + 16)));
  }
}

/** An admitted peer named `name` over a FakeConn. */
export function fakePeer(name: string): Peer & { fake: FakeConn } {
  const fake = new FakeConn();
  const peer = new Peer(fake as unknown as Connection, "bind") as Peer & { fake: FakeConn };
  peer.fake = fake;
  peer.identity = Buffer.from(name);
  peer.key = name;
  peer.state = "admitted";
  return peer;
}
