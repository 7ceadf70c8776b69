/**
 * The admission gate: between a peer's handshake and its admission. With an
 * `admissionToken`, this end first writes its token to the new peer; with an
 * `admit` hook, the hook decides from the handshake (identity, address, TLS
 * certificate) or from the peer's messages (readMessage(): a token). Until
 * then the peer stays pending (peer.ts): the routers do not see it, so
 * nothing buffered is written to it, and what it sends is held here, not
 * delivered. Admitted, it joins the socket and what it sent meanwhile is
 * delivered in order; refused, its connection is closed with
 * ERR_AIOMSG_NOT_ADMITTED and what it sent is discarded.
 */
import { AiomsgError } from "./errors.js";
import type { Peer } from "./peer.js";
import type { AdmissionRequest, AdmissionToken, AdmitHook, PeerInfo } from "./socket-types.js";

/** Messages a pending peer may have held before its reading pauses (TCP pushes back on it). */
const HELD_MESSAGES = 16;

/** A message a pending peer sent: a copy (the read buffer is reused), with its at-least-once id. */
interface Held {
  payload: Buffer;
  msgId: Buffer | undefined;
}

/** What the gate needs from its socket. */
export interface AdmissionHost {
  info(peer: Peer): PeerInfo;
  /** The peer passed: admit it (routers, receive queue, peerConnected). */
  open(peer: Peer): void;
  /** Deliver a message the peer sent while pending (after open). */
  deliver(peer: Peer, payload: Buffer, msgId: Buffer | undefined): void;
  /** Acknowledge an at-least-once message that was read as a token. */
  ack(peer: Peer, msgId: Buffer): void;
  closed(): boolean;
}

/** Per pending peer: what it sent, and who waits for it. */
class Pending {
  readonly held: Held[] = [];
  waiter: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
  paused = false;
}

export class Admission {
  private readonly pending = new Map<Peer, Pending>();

  constructor(
    private readonly hook: AdmitHook | undefined,
    private readonly token: AdmissionToken | undefined,
    private readonly timeout: number,
    private readonly host: AdmissionHost,
  ) {}

  /** Whether new peers pass through the gate at all (otherwise they are admitted at once). */
  get active(): boolean {
    return this.hook !== undefined || this.token !== undefined;
  }

  /** A peer finished its handshake: send our token, ask the hook, then open or refuse it. */
  start(peer: Peer): void {
    const p = new Pending();
    this.pending.set(peer, p);
    const conn = peer.conn;
    const timer = setTimeout(() => {
      this.refuse(peer, new AiomsgError("ERR_AIOMSG_NOT_ADMITTED", `${conn.describe()} was not admitted within admissionTimeout (${this.timeout} ms)`));
    }, this.timeout);
    timer.unref?.();
    void this.decide(peer, p).then(
      (verdict) => {
        clearTimeout(timer);
        if (verdict === true) this.admit(peer, p);
        else this.refuse(peer, new AiomsgError("ERR_AIOMSG_NOT_ADMITTED", `${conn.describe()} was refused by the admit hook`));
      },
      (err: unknown) => {
        clearTimeout(timer);
        const why = err instanceof Error ? err.message : String(err);
        this.refuse(peer, new AiomsgError("ERR_AIOMSG_NOT_ADMITTED", `${conn.describe()} was refused: ${why}`, { cause: err }));
      },
    );
  }

  private async decide(peer: Peer, p: Pending): Promise<boolean> {
    const info = this.host.info(peer);
    if (this.token !== undefined) {
      const t = typeof this.token === "function" ? await this.token(info) : this.token;
      if (typeof t !== "string" && !(t instanceof Uint8Array)) throw new TypeError("admissionToken() must return a Uint8Array or a string");
      if (peer.conn.closed || peer.state !== "pending") return false;
      // Written before anything routed: the peer's first message from this end.
      peer.writeData(typeof t === "string" ? Buffer.from(t, "utf8") : Buffer.from(t.buffer, t.byteOffset, t.byteLength));
    }
    if (this.hook === undefined) return true;
    const tls = peer.conn.transport.peerCertificate?.();
    const request: AdmissionRequest = {
      ...info,
      certificate: tls?.certificate,
      authorized: tls?.authorized ?? false,
      readMessage: () => this.readMessage(peer, p),
      send: (data) => {
        if (typeof data !== "string" && !(data instanceof Uint8Array)) throw new AiomsgError("ERR_AIOMSG_INVALID_OPTION", "send() takes a Uint8Array or a string");
        if (this.pending.get(peer) !== p || peer.conn.closed) return;
        peer.writeData(typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      },
    };
    return (await this.hook(request)) === true;
  }

  /** The hook reads the peer's next message: consumed (acknowledged if at-least-once), not delivered. */
  private readMessage(peer: Peer, p: Pending): Promise<Buffer> {
    if (this.pending.get(peer) !== p) return Promise.reject(new AiomsgError("ERR_AIOMSG_NOT_ADMITTED", "readMessage() after the admission was decided"));
    if (p.waiter !== undefined) return Promise.reject(new AiomsgError("ERR_AIOMSG_INVALID_OPTION", "readMessage() is already waiting"));
    const first = p.held.shift();
    if (first !== undefined) {
      if (first.msgId !== undefined) this.host.ack(peer, first.msgId);
      return Promise.resolve(first.payload);
    }
    this.resume(peer, p);
    return new Promise<Buffer>((resolve, reject) => {
      p.waiter = { resolve, reject };
    });
  }

  /** A message from a pending peer: to the hook's readMessage(), or held. Returns false when the peer is not pending. */
  hold(peer: Peer, body: Buffer, msgId: Buffer | undefined): boolean {
    const p = this.pending.get(peer);
    if (p === undefined) return false;
    const payload = Buffer.from(body);
    const id = msgId === undefined ? undefined : Buffer.from(msgId);
    const w = p.waiter;
    if (w !== undefined) {
      p.waiter = undefined;
      if (id !== undefined) this.host.ack(peer, id);
      w.resolve(payload);
      return true;
    }
    p.held.push({ payload, msgId: id });
    if (p.held.length >= HELD_MESSAGES && !p.paused) {
      p.paused = true;
      peer.conn.pause();
    }
    return true;
  }

  private resume(peer: Peer, p: Pending): void {
    if (!p.paused) return;
    p.paused = false;
    peer.conn.resume();
  }

  private admit(peer: Peer, p: Pending): void {
    if (this.pending.get(peer) !== p) return;
    this.pending.delete(peer);
    if (peer.conn.closed || this.host.closed()) return;
    this.resume(peer, p);
    this.host.open(peer);
    for (const m of p.held) this.host.deliver(peer, m.payload, m.msgId);
  }

  private refuse(peer: Peer, err: AiomsgError): void {
    const p = this.pending.get(peer);
    if (p === undefined) return;
    this.pending.delete(peer);
    p.waiter?.reject(err);
    p.held.length = 0;
    peer.conn.close(err);
  }

  /** The peer's connection ended while pending. */
  gone(peer: Peer): void {
    const p = this.pending.get(peer);
    if (p === undefined) return;
    this.pending.delete(peer);
    p.waiter?.reject(new AiomsgError("ERR_AIOMSG_PEER_LOST", `${peer.conn.describe()} went away before it was admitted`));
    p.held.length = 0;
  }
}
