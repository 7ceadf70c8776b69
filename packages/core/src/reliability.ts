/**
 * At-least-once bookkeeping: a message until it is acknowledged or given up,
 * and the ids that let an acknowledgement find it by index.
 */
import type { Connection } from "./connection.js";
import { COUNTER_MASK } from "./pending.js";

/** Accounting charge of an unacknowledged at-least-once message beyond its payload. */
export const RELIABLE_OVERHEAD = 128;

/** An at-least-once message until it is acknowledged or given up. */
export class Reliable {
  readonly key: number;
  resends = 0;
  done = false;
  conn: Connection | undefined = undefined;
  /** Neighbours among the unacknowledged messages of `conn` (an intrusive list: O(1) in and out, no hashing). */
  prevOnConn: Reliable | undefined = undefined;
  nextOnConn: Reliable | undefined = undefined;
  /** Incremented on every (re)scheduling; stale slots in the resend FIFO are skipped. */
  seq = 0;
  deadline = 0;
  /** What it costs while unacknowledged (charged to the socket, and to the peer it was sent on). */
  readonly charge: number;
  constructor(
    readonly msgId: Buffer,
    readonly payload: Buffer,
    readonly identity: Buffer | undefined,
  ) {
    this.key = msgKey(msgId);
    this.charge = payload.length + RELIABLE_OVERHEAD;
  }
}

// Message ids are UUIDv4-shaped: 12 bytes cut from a pool of random bytes (one
// getRandomValues per 4096 ids), then the 30-bit counter of the PendingWindow in the
// last 4 bytes, so that an ACK finds its message by index. Peers only
// echo ids back, so their layout is this end's business.
const ID_POOL_IDS = 4096;
let idPool = Buffer.alloc(0);
let idPoolOff = 0;

export function newMsgId(counter: number): Buffer {
  if (idPoolOff >= idPool.length) {
    idPool = Buffer.allocUnsafe(16 * ID_POOL_IDS);
    globalThis.crypto.getRandomValues(idPool);
    idPoolOff = 0;
  }
  const id = idPool.subarray(idPoolOff, idPoolOff + 16);
  idPoolOff += 16;
  id[6] = (id[6]! & 0x0f) | 0x40; // version 4
  id[8] = (id[8]! & 0x3f) | 0x80; // RFC 4122 variant
  id.writeUInt32BE(counter, 12);
  return id;
}

/** The counter part of an id: a small-integer map key (the full id is compared on lookup). */
export function msgKey(id: Uint8Array): number {
  return (((id[12]! << 24) | (id[13]! << 16) | (id[14]! << 8) | id[15]!) & COUNTER_MASK) >>> 0;
}

/** Charge `entry` to the peer it is sent on. */
export function attachTo(entry: Reliable, conn: Connection): void {
  entry.conn = conn;
  const tail = conn.unackedTail as Reliable | undefined;
  entry.prevOnConn = tail;
  entry.nextOnConn = undefined;
  if (tail !== undefined) tail.nextOnConn = entry;
  conn.unackedTail = entry;
  conn.unackedCount++;
  conn.unackedBytes += entry.charge;
}

/** End `entry`'s charge to its peer (acknowledged, given up, or sent elsewhere). */
export function detachFrom(entry: Reliable): void {
  const conn = entry.conn;
  if (conn === undefined) return;
  entry.conn = undefined;
  const prev = entry.prevOnConn;
  const next = entry.nextOnConn;
  if (prev !== undefined) prev.nextOnConn = next;
  if (next !== undefined) next.prevOnConn = prev;
  else conn.unackedTail = prev;
  entry.prevOnConn = entry.nextOnConn = undefined;
  conn.unackedCount--;
  conn.unackedBytes -= entry.charge;
}

/** The unacknowledged messages sent on `conn`, oldest first. */
export function unackedOn(conn: Connection): Reliable[] {
  const out: Reliable[] = [];
  for (let e = conn.unackedTail as Reliable | undefined; e !== undefined; e = e.prevOnConn) out.push(e);
  return out.reverse();
}
