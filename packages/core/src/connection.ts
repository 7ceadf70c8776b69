/**
 * One peer connection: the handshake and the connection's life (liveness by
 * heartbeat.ts, close and why); its read path (decoding, read slicing,
 * backpressure) is its FrameReader (frame-reader.ts) and its write path
 * (slabs, batches, completion accounting) its FrameWriter (frame-writer.ts).
 * It knows bytes and its dialect, not routing: everything it learns goes to
 * its owner (the socket, socket-base.ts), which keeps its record of the peer
 * in a Peer (peer.ts).
 */
import { MSG_ID_SIZE, type Dialect, type FrameSink } from "./dialect.js";
import type { ConnectionOptions, ConnectionOwner } from "./connection-seam.js";
import { AiomsgError, ProtocolError } from "./errors.js";
import { PREFIX_SIZE, encodeFrame } from "./wire/frame.js";
import { EMPTY, FrameWriter, type IdWords, type WriterHost } from "./frame-writer.js";
import { FrameReader } from "./frame-reader.js";
import { Heartbeat } from "./heartbeat.js";
import { detectDialect, dialectFor } from "./wire/dialects.js";
import { DEBUG, debug, hex } from "./log.js";
import { WAKE, handshakeLimit } from "./wire/foreign.js";
import { STREAMS } from "./platform.js";
import type { Peer } from "./peer.js";
import type { Transport } from "./transport.js";

export type { ConnectionOptions, ConnectionOwner, ProtocolOption } from "./connection-seam.js";
export { notAGreeting, notAiomsg } from "./wire/foreign.js";

const enum State {
  HANDSHAKE,
  OPEN,
  CLOSED,
}

export class Connection implements FrameSink, WriterHost {
  peerIdentity: Buffer | undefined;
  /** Key of the peer identity for maps (latin1 string of the 16 bytes). */
  key = "";
  dialect: Dialect | undefined;
  readonly remote: string;

  private state = State.HANDSHAKE;
  private readonly reader: FrameReader;
  /** The write path; the peer's record (peer.ts) writes messages to it directly. */
  readonly writer: FrameWriter;
  private readonly heartbeat: Heartbeat;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private autoTimer: NodeJS.Timeout | undefined;

  /** The socket's record of this peer (peer.ts), set by the socket as it attaches the connection. */
  peer!: Peer;
  /** Our handshake frame is written. */
  private greeted = false;
  /** WAKE (the first bytes of our handshake frame) is written; the frame's rest follows when we greet. */
  private woke = false;
  /** Bytes received before the first frame, up to 4, while an auto connect end waits (see WAKE). */
  private heard = 0;
  private heardZeros = true;
  /** A v1 or auto bind end: answers a connection's first bytes with WAKE (TCP and TLS). */
  private readonly wakes: boolean;
  /** Some bytes came from the peer. */
  private heardAny = false;

  /** Whether any byte came from the peer (a refusal in silence may be a TLS port, see redial.ts). */
  get heardAnything(): boolean {
    return this.heardAny;
  }
  /** The transport closed under us (what it buffered is lost). */
  private transportGone = false;
  /** performance.now() when the handshake completed (0 before). */
  openedAt = 0;
  /** Frames received after the handshake. */
  framesAfterHello = 0;
  /** Why the connection ended (undefined while open, or for an orderly close). */
  closeReason: AiomsgError | undefined;
  /** halfClose() sent our FIN: nothing more is written, reading goes on until the peer's FIN. */
  halfClosed = false;
  /** performance.now() when it closed. */
  closedAt = 0;
  private resolveDone!: () => void;
  /**
   * Settles when the connection has closed (for whatever reason) and every
   * write it started has been settled: written, or reported.
   */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    readonly transport: Transport,
    private readonly owner: ConnectionOwner,
    opts: ConnectionOptions,
    readonly direction: "bind" | "connect",
    /** performance.now() by which the handshake must be done (a TLS bind end counts from TCP accept). */
    handshakeDeadline = performance.now() + opts.handshakeTimeout,
  ) {
    this.remote = transport.remote;
    // The connection is its writer's host itself (the WriterHost methods
    // below), not an object of closures over it: each write and each write
    // completion then reaches one object fewer, which counts when a socket
    // writes to many peers in turn (round-robin to 1,000).
    this.writer = new FrameWriter(transport, owner.meter, this);
    this.wakes = STREAMS && direction === "bind" && (opts.protocol === "v1" || opts.protocol === "auto");
    this.reader = new FrameReader(transport, this.onFrame, opts.maxFrameSize, owner.frameBudget, {
      failed: (err) => this.close(err),
      heard: () => this.heartbeat.received(),
    });
    this.reader.decoder.limit = handshakeLimit(transport.kind, direction, () => this.dialect !== undefined);
    this.heartbeat = new Heartbeat(opts.heartbeatInterval, opts.heartbeatTimeout, opts.stallTimeout, {
      idle: () => {
        if (!this.halfClosed) this.sendHeartbeat();
      },
      silent: () =>
        this.close(
          new ProtocolError("ERR_AIOMSG_HEARTBEAT_TIMEOUT", `nothing received from ${this.describe()} for ${opts.heartbeatTimeout} ms`),
        ),
      stalled: () =>
        this.close(
          new AiomsgError(
            "ERR_AIOMSG_SLOW_CONSUMER",
            `${this.describe()} took none of the ${this.queuedBytes} bytes queued for it for ${opts.stallTimeout} ms (slow consumer)`,
          ),
        ),
      writeProgress: () => this.writer.progress(),
    });
    transport.start({ data: this.onData, readTarget: (min) => this.reader.decoder.readTarget(min), end: this.onEnd, error: this.onError, close: this.onSocketClose });

    this.handshakeTimer = setTimeout(() => {
      // A connect end that greeted and heard nothing at all: every aiomsg bind
      // end greets by then (a v1 one answers this end's HELLO, a 2019 one
      // greets on accept), so the port is not an aiomsg bind end (or its
      // process is stuck).
      const silent = direction === "connect" && this.greeted && !this.heardAny;
      this.close(
        silent
          ? new ProtocolError(
              "ERR_AIOMSG_NOT_AIOMSG",
              `${this.remote} accepted the connection but sent nothing in ${opts.handshakeTimeout} ms, though this end greeted: not an aiomsg bind end (or a stuck one); is this the right port?`,
            )
          : new ProtocolError("ERR_AIOMSG_HANDSHAKE_TIMEOUT", `no handshake from ${this.remote} within ${opts.handshakeTimeout} ms`),
      );
    }, Math.max(0, handshakeDeadline - performance.now()));
    this.handshakeTimer.unref();

    if (!STREAMS) {
      // A page (the browser bundle) dials WebSockets, which only v1 peers speak.
      this.speak(dialectFor("v1"));
    } else if (direction === "bind" && (opts.protocol === "v1" || opts.protocol === "auto")) {
      // A v1 or auto bind end waits for the peer's HELLO (its transport has
      // sniffed for a WebSocket upgrade first, as Python 2026.7.1 does) and
      // greets once it accepts it; over TCP and TLS it writes WAKE when the
      // first byte arrives (see onData). Legacy and early bind ends greet at
      // once, as their Python releases do.
      if (opts.protocol === "v1") this.dialect = dialectFor("v1");
    } else if (opts.protocol !== "auto") {
      this.speak(dialectFor(opts.protocol));
    } else if (transport.kind === "ws" || transport.kind === "wss") {
      // Only v1 peers speak WebSocket (2019 had none): no need to wait for a greeting.
      this.speak(dialectFor("v1"));
    } else {
      // auto connect end: write WAKE at once, then answer the first thing the
      // bind end sends. A whole frame is its greeting (a legacy or early bind
      // end greets on accept, a Python v1 bind end once WAKE's first byte
      // arrives): answer in that generation. WAKE alone is a TS v1 or auto
      // bind end waiting for our HELLO: speak v1. Silence for
      // autoDetectDelay (a bind end that sends nothing before a HELLO): v1.
      this.writeHandshake(WAKE);
      this.woke = true;
      this.autoTimer = setTimeout(() => {
        this.autoTimer = undefined;
        if (this.dialect === undefined && this.state === State.HANDSHAKE) this.speak(dialectFor("v1"));
      }, opts.autoDetectDelay);
      this.autoTimer.unref();
    }
  }

  get isOpen(): boolean {
    return this.state === State.OPEN;
  }

  get closed(): boolean {
    return this.state === State.CLOSED;
  }

  /** Bytes accepted for this peer and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.writer.queuedBytes;
  }

  /** Frames accepted for this peer and not yet handed to the kernel. */
  get queuedFrames(): number {
    return this.writer.queuedFrames;
  }

  describe(): string {
    return this.peerIdentity ? `${hex(this.peerIdentity)}@${this.remote}` : this.remote;
  }

  // --- writing (frame-writer.ts) ----------------------------------------------

  /** An at-least-once message: `id` is written into the frame at once. */
  writeRequest(id: IdWords, payload: Uint8Array): void {
    const d = this.dialect!;
    this.writer.idFrame(d.requestBefore, id, d.requestAfter, payload);
  }

  /** The size of one ACK frame in its dialect, length prefix included (what each costs of the peer's room). */
  get ackSize(): number {
    const d = this.dialect!;
    return PREFIX_SIZE + d.ackBefore.length + MSG_ID_SIZE + d.ackAfter.length;
  }

  /** ACKs of the `count` 16-byte ids at `ids[from]`, `ids[from + 16]`... (copied into the frames at once). */
  writeAcks(ids: Uint8Array, from: number, count: number): void {
    const d = this.dialect!;
    this.writer.idFrames(d.ackBefore, ids, from, count, d.ackAfter);
  }

  private sendHeartbeat(): void {
    if (this.state !== State.OPEN) return;
    if (DEBUG) debug("heartbeat -> %s", this.describe());
    this.writer.frame(this.dialect!.heartbeat, EMPTY);
  }

  /** Hand everything queued to the transport now. */
  flush(): void {
    if (this.state !== State.CLOSED) this.writer.flush();
  }

  /**
   * At-most-once payloads that never fully left this process before the
   * connection died, for the owner to report. Empty after an orderly close.
   */
  takeUnwritten(): Buffer[] {
    return this.writer.takeLost();
  }

  // What its writer tells it (WriterHost).

  /** Queued bytes reached the kernel: room may have opened. */
  released(): void {
    this.owner.released(this);
  }

  /** A write failed while the connection was up: it ends. */
  failed(err: Error): void {
    this.close(new AiomsgError("ERR_AIOMSG_PEER_LOST", `write to ${this.describe()} failed: ${err.message}`, { cause: err }));
  }

  /** At-most-once payloads of a write that failed after an orderly close: the owner reports them. */
  unwritten(payloads: Buffer[], err: Error): void {
    this.owner.peerUnwritten(this, payloads, err);
  }

  /** After close, every write started has settled. */
  settled(): void {
    this.resolveDone();
  }

  /** A batch went out: liveness counts it as sent. */
  sent(): void {
    this.heartbeat.sent();
  }

  // --- reading (frame-reader.ts) -----------------------------------------------

  /** Stop reading (the socket's receive queue is full): parsing stops after the current frame. */
  pause(): void {
    if (this.reader.pause()) this.heartbeat.suspend(true);
  }

  resume(): void {
    if (this.reader.resume()) this.heartbeat.suspend(false);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (STREAMS && this.state === State.HANDSHAKE && !this.greeted) this.wakeOnData(chunk);
    this.heardAny = true;
    this.reader.push(chunk);
    if (STREAMS && this.heard === WAKE.length && this.heardZeros && this.state === State.HANDSHAKE && !this.greeted && !this.reader.framesSeen) {
      // An auto connect end heard WAKE alone: a TS v1 or auto bind end waits for our HELLO.
      this.speak(dialectFor("v1"));
    }
    this.reader.endChunk(chunk.length);
  };

  private readonly onFrame = (buf: Buffer, start: number, end: number): void => {
    if (this.state === State.OPEN) {
      this.framesAfterHello++;
      this.dialect!.dispatch(buf, start, end, this);
    } else if (this.state === State.HANDSHAKE) {
      this.handshake(buf.subarray(start, end));
    }
  };

  data(body: Buffer, start: number, end: number): void {
    this.owner.peerData(this, body, start, end);
  }

  request(body: Buffer, idAt: number, start: number, end: number): void {
    this.owner.peerRequest(this, body, idAt, start, end);
  }

  ack(body: Buffer, idAt: number): void {
    this.owner.peerAck(this, body, idAt);
  }

  /**
   * Before greeting: a v1 or auto bind end over TCP or TLS answers the first
   * bytes of a connection with WAKE, as a Python 2026.7.1 bind end greets on
   * the first byte, so an auto connect end knows at once that it must speak
   * first; an auto connect end counts what it hears before the first frame.
   */
  private wakeOnData(chunk: Buffer): void {
    // Its caller checks STREAMS too; the body sits inside it as well because
    // esbuild keeps every method of a class, so only this drops the code.
    if (STREAMS) {
      if (this.direction === "bind") {
        if (this.wakes && !this.woke && (this.transport.kind === "tcp" || this.transport.kind === "tls")) {
          this.woke = true;
          this.writeHandshake(WAKE);
        }
        return;
      }
      if (!this.woke || this.dialect !== undefined) return;
      for (let i = 0; i < chunk.length && this.heard <= WAKE.length; i++) {
        this.heard++;
        if (chunk[i] !== 0) this.heardZeros = false;
      }
    }
  }

  /** Write our handshake frame (its rest, after WAKE if that went first). */
  private speak(dialect: Dialect): void {
    this.dialect = dialect;
    this.writer.dialect = dialect;
    this.greeted = true;
    const frame = encodeFrame(dialect.hello(this.owner.identity));
    // Every handshake frame is shorter than 256 bytes, so begins with WAKE.
    this.writeHandshake(this.woke ? frame.subarray(WAKE.length) : frame);
  }

  /**
   * Handshake bytes go to the transport directly, not through the write
   * batches: nothing is queued before the handshake, so they cannot overtake
   * a frame, and the batches then hold only frames sent after it.
   */
  private writeHandshake(bytes: Buffer): void {
    this.transport.write([bytes], bytes.length, (err) => {
      if (err !== undefined) this.close(new AiomsgError("ERR_AIOMSG_PEER_LOST", `handshake write to ${this.remote} failed: ${err.message}`, { cause: err }));
    });
  }

  /**
   * A v1 or auto bind end greets only once it has accepted the peer's HELLO,
   * so that a refused peer (duplicate identity, bad HELLO) is closed before it
   * sees a greeting and can tell refusal from a dropped connection.
   */
  private handshake(body: Buffer): void {
    // A bind end (and an auto connect end) learns the peer's wire from its first frame.
    if (STREAMS && this.dialect === undefined) {
      if (this.autoTimer !== undefined) clearTimeout(this.autoTimer);
      this.autoTimer = undefined;
      this.dialect = detectDialect(body);
      if (!this.dialect.websocket && (this.transport.kind === "ws" || this.transport.kind === "wss")) {
        throw new ProtocolError("ERR_AIOMSG_UNKNOWN_DIALECT", `a ${this.dialect.name} handshake over WebSocket: that wire has no WebSocket transport`);
      }
    }
    const dialect = this.dialect!;
    const identity = dialect.parseHello(body);
    this.reader.decoder.limit = undefined;
    this.peerIdentity = identity;
    this.key = identity.toString("latin1");
    const refused = this.owner.peerAdmit(this);
    if (refused) throw refused;
    if (!this.greeted) this.speak(dialect);
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.state = State.OPEN;
    this.openedAt = performance.now();
    this.heartbeat.start();
    this.owner.peerReady(this);
    if (DEBUG) debug("peer %s open (%s, %s)", this.describe(), dialect.name, this.direction);
  }

  private readonly onEnd = (): void => {
    this.reader.drainHeld();
    if (this.refusedByPeer()) return;
    if (this.reader.decoder.pending > 0) {
      this.close(new ProtocolError("ERR_AIOMSG_TRUNCATED_FRAME", `${this.describe()} closed in the middle of a frame`));
    } else {
      if (this.state === State.OPEN) this.owner.peerEnded?.(this);
      this.close(undefined);
    }
  };

  private readonly onError = (err: Error): void => {
    // A transport's own protocol errors (a bad first byte, a WebSocket violation) are already coded.
    if (err instanceof AiomsgError) {
      this.close(err);
      return;
    }
    if (this.refusedByPeer(err)) return;
    this.close(new AiomsgError("ERR_AIOMSG_PEER_LOST", `connection to ${this.describe()} failed: ${err.message}`, { cause: err }));
  };

  private readonly onSocketClose = (): void => {
    this.transportGone = true;
    // After an orderly close: a batch still held has had no callback before
    // the transport went, so nothing says it was written.
    if (this.state === State.CLOSED) {
      this.writer.transportClosed();
      this.resolveDone();
    }
    this.reader.drainHeld();
    if (this.refusedByPeer()) return;
    this.close(undefined);
  };

  /**
   * A connect end whose peer hangs up before greeting back was refused: a TS
   * bind end does so for a duplicate identity, maxPeers or a bad HELLO. The
   * wire carries no reason, so the code says refused and the message lists
   * the usual causes.
   */
  private refusedByPeer(err?: Error): boolean {
    if (this.direction !== "connect" || this.state !== State.HANDSHAKE || !this.greeted) return false;
    this.close(
      new AiomsgError(
        "ERR_AIOMSG_REFUSED",
        `${this.remote} closed the connection before completing the handshake${err ? ` (${err.message})` : ""}: ` +
          "it refused this peer (identity already connected, maxPeers reached, or a HELLO it does not accept), or it expects TLS (connect with { tls })",
        { cause: err },
      ),
    );
    return true;
  }

  /**
  /**
   * Drain (docs/fleet.md): write what is queued, then tell the peer this end
   * is going by a half-close (TCP FIN after the last frame; no wire change)
   * and keep reading until the peer closes its side, so what it had sent
   * still arrives. Nothing is written after it (no heartbeats either). A
   * transport without half-close (WebSocket) is closed in order instead.
   */
  halfClose(): void {
    if (this.state !== State.OPEN || this.halfClosed) return;
    this.writer.flush();
    this.halfClosed = true;
    this.heartbeat.cancel();
    if (this.transport.halfClose !== undefined) this.transport.halfClose();
    else this.close(undefined);
  }

  /**
   * Close this connection. With a reason (protocol error, timeout) it is torn
   * down at once; without one, queued frames are flushed and the socket ended.
   */
  close(reason: AiomsgError | undefined): void {
    if (this.state === State.CLOSED) return;
    if (reason === undefined) this.writer.flush();
    this.state = State.CLOSED;
    this.closeReason = reason;
    this.closedAt = performance.now();
    this.reader.stop();
    this.heartbeat.cancel();
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    if (this.autoTimer !== undefined) clearTimeout(this.autoTimer);
    // Frames still in this process die with an abrupt close: the writer keeps
    // their payloads to report. After an orderly close the transport still
    // writes what it holds; a batch that then fails is reported by the writer.
    const held = this.writer.close(reason !== undefined || this.transportGone);
    if (DEBUG && reason !== undefined) debug("closing %s: %s %s", this.describe(), reason.code, reason.message);
    // The transport says why in its own terms (a WebSocket close code, HTTP 400 before an upgrade).
    if (reason === undefined) this.transport.end();
    else this.transport.destroy(reason);
    if (held > 0) this.owner.released(this);
    this.owner.peerClosed(this, reason);
    // `done` waits for batches still being written after an orderly close.
    if (this.writer.settled) this.resolveDone();
  }
}
