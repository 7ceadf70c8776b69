/**
 * One peer connection: handshake, frame decoding, liveness and the batched
 * write path. It knows bytes and its dialect, not routing: everything it
 * learns goes to its owner (the Socket).
 */
import { MAX_HELLO_SIZE, type Dialect, type DialectName, type FrameSink } from "./dialect.js";
import { AiomsgError, ProtocolError } from "./errors.js";
import { FrameDecoder, PREFIX_SIZE, encodeFrame, type FrameBudget } from "./wire/frame.js";
import { Heartbeat } from "./heartbeat.js";
import { detectDialect, dialectFor } from "./wire/dialects.js";
import { debug, hex } from "./log.js";
import type { Peer } from "./peer.js";
import type { Transport } from "./transport.js";

export type ProtocolOption = DialectName | "auto";

export interface ConnectionOptions {
  protocol: ProtocolOption;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  handshakeTimeout: number;
  maxFrameSize: number;
  /** connect ends in "auto" mode speak v1 after this long if the peer has said nothing (see WAKE). */
  autoDetectDelay: number;
  /** Disconnect a peer whose queued writes make no progress for this long. */
  stallTimeout: number;
}

/** Bytes accepted for writing and not yet handed to the kernel, shared by a socket's connections. */
export interface WriteMeter {
  bytes: number;
}

export interface ConnectionOwner {
  readonly identity: Buffer;
  readonly meter: WriteMeter;
  /** Shared by the socket's connections: bytes that partial frames may hold. */
  readonly frameBudget: FrameBudget;
  /** Returns an error to refuse the peer (e.g. its identity is already connected). */
  peerAdmit(conn: Connection): ProtocolError | undefined;
  /** The handshake is done (after peerAdmit accepted it): the peer is open. */
  peerReady(conn: Connection): void;
  /** A payload from the peer: `body` from `start` on. */
  peerData(conn: Connection, body: Buffer, start: number): void;
  peerRequest(conn: Connection, msgId: Buffer, body: Buffer, start: number): void;
  peerAck(conn: Connection, msgId: Buffer): void;
  /** Some of this connection's queued bytes reached the kernel or were discarded (meters already updated). */
  released(conn: Connection): void;
  /**
   * At-most-once payloads of a write that failed after an orderly close (the
   * peer reset while what was queued still went out): not written, to report.
   */
  peerUnwritten(conn: Connection, payloads: Buffer[], err: Error): void;
  peerClosed(conn: Connection, reason: AiomsgError | undefined): void;
}

const enum State {
  HANDSHAKE,
  OPEN,
  CLOSED,
}

/** Payloads at least this large are written by reference instead of copied. */
const COPY_LIMIT = 16 * 1024;
/**
 * Slabs start small (Node's shared pool serves allocations under 4 KiB) and
 * grow 4x, up to SLAB_SIZE, while each is used up within SLAB_BUSY_BATCHES
 * flushes; a slab that lasted longer means a quiet peer, whose next slab is
 * small again. An idle connection (heartbeats only) so holds ~512 B for its
 * writes instead of 64 KiB.
 */
const SMALL_SLAB = 512;
const SLAB_SIZE = 64 * 1024;
const SLAB_BUSY_BATCHES = 8;
/**
 * A batch is written at once when FLUSH_BYTES wait, or FLUSH_SMALL_BYTES in
 * at least FLUSH_SMALL_FRAMES frames; otherwise at the end of the tick. Small
 * messages so go out in ~64 KiB writes (the receiver starts on one while the
 * next is packed), and large ones four to a writev: one writev per 64 KiB
 * message made four times the syscalls and receiver wake-ups of a raw Node
 * sender's 256 KiB writes (strace: 68 KB per writev against 254 KB), and
 * batching them took TS->TS 64 KiB from 26-37 k to 41-48 k msg/s on this
 * machine. What waits here is counted in highWaterMark like any queued byte.
 */
const FLUSH_BYTES = 256 * 1024;
const FLUSH_SMALL_BYTES = 64 * 1024;
const FLUSH_SMALL_FRAMES = 8;
/**
 * A connection lets the event loop turn after reading this much (or this
 * many frames): libuv reads up to 32 chunks from one socket per poll, so a
 * flooding peer would otherwise hold the loop for every other peer and timer.
 */
const SLICE_BYTES = 1024 * 1024;
const SLICE_FRAMES = 8192;

export class Connection implements FrameSink {
  peerIdentity: Buffer | undefined;
  /** Key of the peer identity for maps (latin1 string of the 16 bytes). */
  key = "";
  dialect: Dialect | undefined;
  readonly remote: string;

  private state = State.HANDSHAKE;
  private readonly decoder: FrameDecoder;
  private readonly meter: WriteMeter;
  private readonly heartbeat: Heartbeat;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private autoTimer: NodeJS.Timeout | undefined;

  // Write path: frames are packed into a slab; [slabStart, slabOff) is not yet
  // handed to the socket. `chunks` holds what will go out in the next flush.
  private slab: Buffer = EMPTY;
  private slabStart = 0;
  private slabOff = 0;
  private nextSlab = SMALL_SLAB;
  /** batchSeq when the current slab was allocated. */
  private slabSeq = 0;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private pendingFrames = 0;
  // Batches Node had to buffer (the kernel did not take them at once), oldest
  // first, until their write callback: the only frames that can be lost in
  // this process if the connection dies. Nothing is kept per message. After
  // an orderly close they stay here until their callbacks: one that fails
  // then is reported through peerUnwritten.
  private unwritten: Array<{ seq: number; chunks: Buffer[] }> = [];
  /** close() took the unwritten batches' payloads as lost (an abrupt close). */
  private unwrittenTaken = false;
  private batchSeq = 0;
  private lost: Buffer[] = [];
  private inflightBytes = 0;
  private inflightFrames = 0;
  /** When queued writes last moved (performance.now()), for slow-consumer detection. */
  private lastProgress = 0;
  /** libuv's count of bytes not yet taken by the kernel, at the last progress check. */
  private lastWriteQueue = -1;
  private flushQueued = false;
  /** Reading paused because the socket's receive queue is full. */
  private paused = false;
  /** Reading paused because a large frame waits for the socket's frame budget. */
  private blocked = false;
  private resumeQueued = false;
  // Reading since the connection last let the event loop turn.
  private sliceBytes = 0;
  private sliceFrames = 0;
  private sliced = false;
  /** The socket's record of this peer (peer.ts), set by the socket as it attaches the connection. */
  peer!: Peer;
  /** A frame completed during the current chunk (see onData). */
  private framesSeen = false;
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
  /** The transport closed under us (what it buffered is lost). */
  private transportGone = false;
  /** performance.now() when the handshake completed (0 before). */
  openedAt = 0;
  /** Frames received after the handshake. */
  framesAfterHello = 0;
  /** Why the connection ended (undefined while open, or for an orderly close). */
  closeReason: AiomsgError | undefined;
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
    this.meter = owner.meter;
    this.remote = transport.remote;
    this.wakes = direction === "bind" && (opts.protocol === "v1" || opts.protocol === "auto");
    this.decoder = new FrameDecoder(this.onFrame, opts.maxFrameSize, owner.frameBudget, {
      blocked: () => {
        this.blocked = true;
        this.transport.pause();
      },
      unblocked: () => {
        this.blocked = false;
        this.scheduleResume();
      },
    });
    this.decoder.limit = {
      size: MAX_HELLO_SIZE,
      // A connect end's peer is a bind end: a first frame too long for any greeting means another protocol.
      foreign: (prefix) => notAiomsg(prefix, this.transport.kind) ?? (direction === "connect" ? notAGreeting(prefix) : undefined),
      refuse: (length) =>
        this.dialect === undefined
          ? new ProtocolError("ERR_AIOMSG_UNKNOWN_DIALECT", `first frame (${length} bytes) is longer than any handshake (at most ${MAX_HELLO_SIZE} bytes)`)
          : new ProtocolError("ERR_AIOMSG_BAD_HELLO", `first frame (${length} bytes) is longer than a handshake may be (at most ${MAX_HELLO_SIZE} bytes)`),
    };
    this.heartbeat = new Heartbeat(opts.heartbeatInterval, opts.heartbeatTimeout, opts.stallTimeout, {
      idle: () => this.sendHeartbeat(),
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
      writeProgress: () => this.writeProgress(),
    });
    transport.start({ data: this.onData, end: this.onEnd, error: this.onError, close: this.onSocketClose });

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

    if (direction === "bind" && (opts.protocol === "v1" || opts.protocol === "auto")) {
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

  /** The read (or assembled buffer) the frame being delivered is a view of. */
  get source(): Buffer {
    return this.decoder.source;
  }

  get isOpen(): boolean {
    return this.state === State.OPEN;
  }

  get closed(): boolean {
    return this.state === State.CLOSED;
  }

  /** Bytes accepted for this peer and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.pendingBytes + this.inflightBytes;
  }

  /** Frames accepted for this peer and not yet handed to the kernel. */
  get queuedFrames(): number {
    return this.pendingFrames + this.inflightFrames;
  }

  /** See Heartbeat: -1 when nothing is queued, else when the queue last moved. */
  private writeProgress(): number {
    if (this.pendingBytes + this.inflightBytes === 0) return -1;
    // A write larger than the kernel's buffers completes in one callback, but
    // libuv's queue shrinks as each part goes: that is progress too.
    const q = this.transport.progress;
    if (typeof q === "number" && q !== this.lastWriteQueue) {
      this.lastWriteQueue = q;
      this.lastProgress = performance.now();
    }
    return this.lastProgress;
  }

  describe(): string {
    return this.peerIdentity ? `${hex(this.peerIdentity)}@${this.remote}` : this.remote;
  }

  // --- write path -----------------------------------------------------------

  writeData(payload: Buffer): void {
    this.enqueue(this.dialect!.dataHead, EMPTY, payload);
  }

  /**
   * At-most-once payloads that never fully left this process before the
   * connection died (a batch cut mid-write may have partly reached the peer),
   * for the owner to report. Empty after an orderly close.
   */
  takeUnwritten(): Buffer[] {
    const out = this.lost;
    this.lost = [];
    return out;
  }

  /** Recover the data payloads of frames that were queued or buffered but not written. */
  private collectUnwritten(): Buffer[] {
    this.cutSlab();
    const batches = this.unwritten.map((b) => b.chunks);
    if (this.chunks.length > 0) batches.push(this.chunks);
    return this.payloadsOf(batches);
  }

  /** The data payloads in `batches` of this connection's frames (all sent after the handshake). */
  private payloadsOf(batches: Buffer[][]): Buffer[] {
    if (batches.length === 0 || this.dialect === undefined) return [];
    // Our handshake is not in the batches (writeHandshake): every frame here came after it.
    const out: Buffer[] = [];
    const sink: FrameSink = { data: (b, start) => out.push(b.subarray(start)), request: () => undefined, ack: () => undefined };
    const dialect = this.dialect;
    const decoder = new FrameDecoder((body) => {
      try {
        dialect.dispatch(body, sink);
      } catch {
        // our own control frames (none is data)
      }
    });
    for (const chunks of batches) for (const c of chunks) decoder.push(c);
    return out;
  }

  writeRequest(msgId: Uint8Array, payload: Uint8Array): void {
    const d = this.dialect!;
    this.enqueue(d.requestHead(msgId), d.requestMid(msgId), payload);
  }

  writeAck(msgId: Uint8Array): void {
    const d = this.dialect!;
    this.enqueue(d.ackHead(msgId), d.ackMid(msgId), EMPTY);
  }

  private sendHeartbeat(): void {
    if (this.state !== State.OPEN) return;
    debug("heartbeat -> %s", this.describe());
    this.enqueue(this.dialect!.heartbeat, EMPTY, EMPTY);
  }

  /** Queue one frame (head + mid + payload), charged to the owner's write meter until it reaches the kernel. */
  private enqueue(head: Uint8Array, mid: Uint8Array, payload: Uint8Array): void {
    const fixed = head.length + mid.length;
    const bodyLen = fixed + payload.length;
    const total = PREFIX_SIZE + bodyLen;
    const byRef = payload.length >= COPY_LIMIT;
    const need = byRef ? PREFIX_SIZE + fixed : total;
    if (this.slab.length - this.slabOff < need) {
      this.cutSlab();
      this.slab = Buffer.allocUnsafe(Math.max(this.nextSlab, need));
      this.nextSlab = this.batchSeq - this.slabSeq <= SLAB_BUSY_BATCHES ? Math.min(SLAB_SIZE, this.nextSlab * 4) : SMALL_SLAB;
      this.slabSeq = this.batchSeq;
      this.slabStart = 0;
      this.slabOff = 0;
    }
    const slab = this.slab;
    let off = this.slabOff;
    slab.writeUInt32BE(bodyLen, off);
    off = put(slab, off + PREFIX_SIZE, head);
    if (mid.length > 0) off = put(slab, off, mid);
    if (byRef) {
      this.slabOff = off;
      this.cutSlab();
      this.chunks.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    } else {
      this.slabOff = put(slab, off, payload);
    }
    if (this.pendingBytes + this.inflightBytes === 0) this.lastProgress = performance.now();
    this.pendingBytes += total;
    this.pendingFrames++;
    this.meter.bytes += total;
    if (this.pendingBytes >= FLUSH_BYTES || (this.pendingBytes >= FLUSH_SMALL_BYTES && this.pendingFrames >= FLUSH_SMALL_FRAMES)) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flushTick);
    }
  }

  private cutSlab(): void {
    if (this.slabOff > this.slabStart) {
      this.chunks.push(this.slab.subarray(this.slabStart, this.slabOff));
      this.slabStart = this.slabOff;
    }
  }

  private readonly flushTick = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  /** Hand everything queued to the socket in one write (or one corked writev). */
  flush(): void {
    if (this.pendingBytes === 0 || this.state === State.CLOSED) return;
    this.cutSlab();
    const chunks = this.chunks;
    const bytes = this.pendingBytes;
    const frames = this.pendingFrames;
    this.chunks = [];
    this.pendingBytes = 0;
    this.pendingFrames = 0;
    this.inflightBytes += bytes;
    this.inflightFrames += frames;
    const seq = this.batchSeq++;
    const done = (err?: Error): void => {
      if (err !== undefined) {
        this.writeFailed(seq, chunks, err);
        return;
      }
      this.forget(seq);
      // After close the bytes were already released in bulk.
      if (this.state === State.CLOSED) return;
      this.inflightBytes -= bytes;
      this.inflightFrames -= frames;
      this.meter.bytes -= bytes;
      this.lastProgress = performance.now();
      this.owner.released(this);
    };
    this.transport.write(chunks, bytes, done);
    if (this.transport.buffered > 0) this.unwritten.push({ seq, chunks });
    this.heartbeat.sent();
  }

  /** Batches up to `seq` are settled: stop holding them. */
  private forget(seq: number): void {
    while (this.unwritten.length > 0 && this.unwritten[0]!.seq <= seq) this.unwritten.shift();
    if (this.state === State.CLOSED && this.unwritten.length === 0) this.resolveDone();
  }

  /**
   * A batch did not (or may not) reach the kernel. While the connection is
   * up, the write error ends it: close() then reports this batch and every
   * later one, whose bytes cannot follow a gap. After an orderly close the
   * batch's payloads are reported on their own; after an abrupt one close()
   * has reported them already.
   */
  private writeFailed(seq: number, chunks: Buffer[], err: Error): void {
    if (this.state !== State.CLOSED) {
      let i = this.unwritten.length;
      while (i > 0 && this.unwritten[i - 1]!.seq > seq) i--;
      if (i === 0 || this.unwritten[i - 1]!.seq !== seq) this.unwritten.splice(i, 0, { seq, chunks });
      this.close(new AiomsgError("ERR_AIOMSG_PEER_LOST", `write to ${this.describe()} failed: ${err.message}`, { cause: err }));
      return;
    }
    const held = !this.unwrittenTaken && this.unwritten.some((b) => b.seq === seq);
    if (held) {
      const payloads = this.payloadsOf([chunks]);
      if (payloads.length > 0) this.owner.peerUnwritten(this, payloads, err);
    }
    this.unwritten = this.unwritten.filter((b) => b.seq !== seq);
    if (this.unwritten.length === 0) this.resolveDone();
  }

  // --- read path ------------------------------------------------------------

  /** Stop reading (the socket's receive queue is full): parsing stops after the current frame. */
  pause(): void {
    if (this.paused || this.state === State.CLOSED) return;
    this.paused = true;
    this.heartbeat.suspend(true);
    this.decoder.pause();
    this.transport.pause();
  }

  resume(): void {
    if (!this.paused || this.state === State.CLOSED) return;
    this.paused = false;
    this.heartbeat.suspend(false);
    this.scheduleResume();
  }

  /** Parse what the decoder held and read again, outside the caller's stack (resume comes from recv()). */
  private scheduleResume(): void {
    if (this.resumeQueued) return;
    this.resumeQueued = true;
    setImmediate(this.resumeReading);
  }

  private readonly resumeReading = (): void => {
    this.resumeQueued = false;
    if (this.paused || this.blocked || this.state === State.CLOSED) return;
    try {
      this.decoder.resume();
    } catch (err) {
      this.close(asAiomsgError(err));
      return;
    }
    this.noteFrames();
    // Parsing may have paused, blocked or closed this connection again.
    if (!this.paused && !this.blocked && !this.sliced && !this.closed) this.transport.resume();
  };

  /** Liveness counts whole frames (as Python's per-frame timeout does); one clock read per chunk. */
  private noteFrames(): void {
    if (this.framesSeen) {
      this.framesSeen = false;
      this.heartbeat.received();
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.state === State.HANDSHAKE && !this.greeted) this.wakeOnData(chunk);
    this.heardAny = true;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.close(asAiomsgError(err));
    }
    if (this.heard === WAKE.length && this.heardZeros && this.state === State.HANDSHAKE && !this.greeted && this.framesSeen === false) {
      // An auto connect end heard WAKE alone: a TS v1 or auto bind end waits for our HELLO.
      this.speak(dialectFor("v1"));
    }
    // A peer trickling one endless frame is still silent.
    this.noteFrames();
    this.sliceBytes += chunk.length;
    if ((this.sliceBytes >= SLICE_BYTES || this.sliceFrames >= SLICE_FRAMES) && !this.sliced && this.state !== State.CLOSED) {
      this.sliced = true;
      this.transport.pause();
      setImmediate(this.endSlice);
    }
  };

  private readonly endSlice = (): void => {
    this.sliced = false;
    this.sliceBytes = 0;
    this.sliceFrames = 0;
    if (!this.paused && !this.blocked && !this.resumeQueued && this.state !== State.CLOSED) this.transport.resume();
  };

  private readonly onFrame = (body: Buffer): void => {
    this.framesSeen = true;
    this.sliceFrames++;
    if (this.state === State.OPEN) {
      this.framesAfterHello++;
      this.dialect!.dispatch(body, this);
    } else if (this.state === State.HANDSHAKE) {
      this.handshake(body);
    }
  };

  data(body: Buffer, start: number): void {
    this.owner.peerData(this, body, start);
  }

  request(msgId: Buffer, body: Buffer, start: number): void {
    this.owner.peerRequest(this, msgId, body, start);
  }

  ack(msgId: Buffer): void {
    this.owner.peerAck(this, msgId);
  }

  /**
   * Before greeting: a v1 or auto bind end over TCP or TLS answers the first
   * bytes of a connection with WAKE, as a Python 2026.7.1 bind end greets on
   * the first byte, so an auto connect end knows at once that it must speak
   * first; an auto connect end counts what it hears before the first frame.
   */
  private wakeOnData(chunk: Buffer): void {
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

  /** Write our handshake frame (its rest, after WAKE if that went first). */
  private speak(dialect: Dialect): void {
    this.dialect = dialect;
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
    if (this.dialect === undefined) {
      if (this.autoTimer !== undefined) clearTimeout(this.autoTimer);
      this.autoTimer = undefined;
      this.dialect = detectDialect(body);
      if (!this.dialect.websocket && (this.transport.kind === "ws" || this.transport.kind === "wss")) {
        throw new ProtocolError("ERR_AIOMSG_UNKNOWN_DIALECT", `a ${this.dialect.name} handshake over WebSocket: that wire has no WebSocket transport`);
      }
    }
    const identity = this.dialect.parseHello(body);
    this.decoder.limit = undefined;
    this.peerIdentity = identity;
    this.key = identity.toString("latin1");
    const refused = this.owner.peerAdmit(this);
    if (refused) throw refused;
    if (!this.greeted) this.speak(this.dialect);
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.state = State.OPEN;
    this.openedAt = performance.now();
    this.heartbeat.start();
    this.owner.peerReady(this);
    debug("peer %s open (%s, %s)", this.describe(), this.dialect.name, this.direction);
  }

  private readonly onEnd = (): void => {
    this.drainHeld();
    if (this.refusedByPeer()) return;
    if (this.decoder.pending > 0) {
      this.close(new ProtocolError("ERR_AIOMSG_TRUNCATED_FRAME", `${this.describe()} closed in the middle of a frame`));
    } else {
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
      const left = this.unwrittenTaken ? [] : this.unwritten;
      this.unwritten = [];
      if (left.length > 0) {
        const payloads = this.payloadsOf(left.map((b) => b.chunks));
        if (payloads.length > 0) this.owner.peerUnwritten(this, payloads, new Error("the connection closed before the write completed"));
      }
      this.resolveDone();
    }
    this.drainHeld();
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
   * The peer is gone: frames held back by receive backpressure are delivered
   * now rather than lost (the queue overshoots by at most one read).
   */
  private drainHeld(): void {
    if (this.state === State.CLOSED || !this.decoder.holding) return;
    try {
      this.decoder.resume(true);
    } catch (err) {
      this.close(asAiomsgError(err));
    }
  }

  /**
   * Close this connection. With a reason (protocol error, timeout) it is torn
   * down at once; without one, queued frames are flushed and the socket ended.
   */
  close(reason: AiomsgError | undefined): void {
    if (this.state === State.CLOSED) return;
    if (reason === undefined) this.flush();
    this.state = State.CLOSED;
    this.closeReason = reason;
    this.closedAt = performance.now();
    this.decoder.stop();
    this.heartbeat.cancel();
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    if (this.autoTimer !== undefined) clearTimeout(this.autoTimer);
    // Frames still in this process die with an abrupt close: keep their
    // payloads to report. After an orderly close the transport still writes
    // what it holds; a batch that then fails is reported by writeFailed.
    if (reason !== undefined || this.transportGone) {
      this.lost = this.collectUnwritten();
      this.unwrittenTaken = true;
      this.unwritten = [];
    }
    const held = this.pendingBytes + this.inflightBytes;
    this.pendingBytes = 0;
    this.inflightBytes = 0;
    this.pendingFrames = 0;
    this.inflightFrames = 0;
    this.chunks = [];
    if (reason !== undefined) debug("closing %s: %s %s", this.describe(), reason.code, reason.message);
    // The transport says why in its own terms (a WebSocket close code, HTTP 400 before an upgrade).
    if (reason === undefined) this.transport.end();
    else this.transport.destroy(reason);
    if (held > 0) {
      this.meter.bytes -= held;
      this.owner.released(this);
    }
    this.owner.peerClosed(this, reason);
    // `done` waits for batches still being written after an orderly close.
    if (this.unwritten.length === 0) this.resolveDone();
  }
}

const EMPTY = Buffer.alloc(0);
/**
 * The first three bytes of every handshake frame of every generation (each is
 * shorter than 256 bytes, so its length prefix begins 00 00 00). Written
 * before a connection's dialect is known, it commits to none: an auto connect
 * end sends it at once (it wakes a Python 2026.7.1 bind end, which greets on
 * the first byte), and a TS v1 or auto bind end sends it back on the first
 * byte it reads; each completes the frame when it greets. No release sends a
 * greeting as exactly these three bytes and a pause (Python writes a frame's
 * 4-byte prefix in one write), so an auto connect end that hears WAKE alone
 * knows the bind end waits for its HELLO.
 */
const WAKE = Buffer.from([0, 0, 0]);

/** Copy `src` into `dst` at `off`; short copies by hand (cheaper than a native call). */
function put(dst: Buffer, off: number, src: Uint8Array): number {
  const n = src.length;
  if (n < 32) {
    for (let i = 0; i < n; i++) dst[off + i] = src[i]!;
  } else {
    dst.set(src, off);
  }
  return off + n;
}

function asAiomsgError(err: unknown): AiomsgError {
  if (err instanceof AiomsgError) return err;
  return new ProtocolError("ERR_AIOMSG_MALFORMED", err instanceof Error ? err.message : String(err));
}

/**
 * A bind end's first four bytes announce a frame longer than any greeting of
 * any generation and are no protocol notAiomsg knows: another protocol
 * (SSH, SMTP, a database...) answering on this port.
 */
export function notAGreeting(prefix: number): ProtocolError {
  const bytes = [prefix >>> 24, (prefix >>> 16) & 0xff, (prefix >>> 8) & 0xff, prefix & 0xff];
  const text = bytes.every((b) => b >= 0x20 && b < 0x7f) ? ` ("${String.fromCharCode(...bytes)}...")` : "";
  return new ProtocolError(
    "ERR_AIOMSG_NOT_AIOMSG",
    `the peer's first bytes${text} announce a frame of ${prefix} bytes, longer than any aiomsg greeting (at most ${MAX_HELLO_SIZE}): not an aiomsg bind end; is this the right port?`,
  );
}

/**
 * A peer's first four bytes read as a frame length, when they are really
 * another protocol's opening: say so instead of "frame of 1213486160 bytes".
 */
export function notAiomsg(prefix: number, kind: string): ProtocolError | undefined {
  const b0 = prefix >>> 24;
  const b1 = (prefix >>> 16) & 0xff;
  const text = String.fromCharCode(b0, b1, (prefix >>> 8) & 0xff, prefix & 0xff);
  if (text === "HTTP" || /^(GET |POST|PUT |HEAD)$/.test(text)) {
    return new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", `the peer speaks HTTP ("${text}..."), not aiomsg: is this the right port?`);
  }
  if ((b0 === 0x16 || b0 === 0x15) && b1 === 0x03) {
    return new ProtocolError(
      "ERR_AIOMSG_NOT_AIOMSG",
      kind === "tcp"
        ? "the peer speaks TLS, not plain aiomsg: connect with { tls } (or wss://), or bind with { tls }"
        : "the peer sent a TLS record inside TLS: not an aiomsg peer",
    );
  }
  return undefined;
}
