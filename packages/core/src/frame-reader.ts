/**
 * A connection's read path: the transport's chunks through the frame
 * decoder (wire/frame.ts), with the event loop let turn after SLICE_BYTES
 * or SLICE_FRAMES, reading paused while the socket's receive queue is full
 * (pause/resume, from receive-flow.ts) or while a large frame waits for the
 * socket's frame budget, and parsing resumed outside the caller's stack.
 * Liveness counts whole frames: heard() once per chunk that completed one.
 * The Connection (connection.ts) owns one, hands it each chunk (push, then
 * endChunk), and gets whole frames in its onFrame.
 */
import { AiomsgError, ProtocolError } from "./errors.js";
import { FrameDecoder, type FrameBudget, type FrameHandler } from "./wire/frame.js";
import type { Transport } from "./transport.js";

/**
 * A connection lets the event loop turn after reading this much (or this
 * many frames): libuv reads up to 32 chunks from one socket per poll, so a
 * flooding peer would otherwise hold the loop for every other peer and timer.
 */
const SLICE_BYTES = 1024 * 1024;
const SLICE_FRAMES = 8192;

/** What the reader tells its connection. */
export interface ReaderHost {
  /** The bytes broke the framing (or a frame handler threw): end the connection. */
  failed(err: AiomsgError): void;
  /** At least one whole frame arrived (liveness). */
  heard(): void;
}

export class FrameReader {
  readonly decoder: FrameDecoder;
  /** Set by stop(): nothing more is parsed or resumed. */
  private stopped = false;
  /** Reading paused because the socket's receive queue is full. */
  private paused = false;
  /** Reading paused because a large frame waits for the socket's frame budget. */
  private blocked = false;
  private resumeQueued = false;
  // Reading since the connection last let the event loop turn.
  private sliceBytes = 0;
  private sliceFrames = 0;
  private sliced = false;
  /** A frame completed during the current chunk (see endChunk). */
  private frameSeen = false;

  constructor(
    private readonly transport: Transport,
    onFrame: FrameHandler,
    maxFrameSize: number,
    budget: FrameBudget,
    private readonly host: ReaderHost,
  ) {
    this.decoder = new FrameDecoder(
      (buf, start, end) => {
        this.frameSeen = true;
        this.sliceFrames++;
        onFrame(buf, start, end);
      },
      maxFrameSize,
      budget,
      {
        blocked: () => {
          this.blocked = true;
          this.transport.pause();
        },
        unblocked: () => {
          this.blocked = false;
          this.scheduleResume();
        },
      },
    );
  }

  /** Stop reading: parsing stops after the current frame. False if already paused or stopped. */
  pause(): boolean {
    if (this.paused || this.stopped) return false;
    this.paused = true;
    this.decoder.pause();
    this.transport.pause();
    return true;
  }

  /** Read again (soon). False if not paused or stopped. */
  resume(): boolean {
    if (!this.paused || this.stopped) return false;
    this.paused = false;
    this.scheduleResume();
    return true;
  }

  /** The connection closes: parse nothing more. */
  stop(): void {
    this.stopped = true;
    this.decoder.stop();
  }

  /**
   * The peer is gone: frames held back by receive backpressure are delivered
   * now rather than lost (the queue overshoots by at most one read).
   */
  drainHeld(): void {
    if (this.stopped || !this.decoder.holding) return;
    try {
      this.decoder.resume(true);
    } catch (err) {
      this.host.failed(asAiomsgError(err));
    }
  }

  /** Parse what the decoder held and read again, outside the caller's stack (resume comes from recv()). */
  private scheduleResume(): void {
    if (this.resumeQueued) return;
    this.resumeQueued = true;
    setImmediate(this.resumeReading);
  }

  private readonly resumeReading = (): void => {
    this.resumeQueued = false;
    if (this.paused || this.blocked || this.stopped) return;
    try {
      this.decoder.resume();
    } catch (err) {
      this.host.failed(asAiomsgError(err));
      return;
    }
    this.noteFrames();
    // Parsing may have paused, blocked or stopped this reader again.
    if (!this.paused && !this.blocked && !this.sliced && !this.stopped) this.transport.resume();
  };

  /** Liveness counts whole frames (as Python's per-frame timeout does); one clock read per chunk. */
  private noteFrames(): void {
    if (this.frameSeen) {
      this.frameSeen = false;
      this.host.heard();
    }
  }

  /** Whether a whole frame arrived in the current chunk (until endChunk). */
  get framesSeen(): boolean {
    return this.frameSeen;
  }

  /** Parse a chunk from the transport; then endChunk() (the connection may look at what it parsed in between). */
  push(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.host.failed(asAiomsgError(err));
    }
  }

  /** After a chunk: liveness, and a turn of the event loop every SLICE_BYTES or SLICE_FRAMES. */
  endChunk(bytes: number): void {
    // A peer trickling one endless frame is still silent.
    this.noteFrames();
    this.sliceBytes += bytes;
    if ((this.sliceBytes >= SLICE_BYTES || this.sliceFrames >= SLICE_FRAMES) && !this.sliced && !this.stopped) {
      this.sliced = true;
      this.transport.pause();
      setImmediate(this.endSlice);
    }
  }

  private readonly endSlice = (): void => {
    this.sliced = false;
    this.sliceBytes = 0;
    this.sliceFrames = 0;
    if (!this.paused && !this.blocked && !this.resumeQueued && !this.stopped) this.transport.resume();
  };
}

export function asAiomsgError(err: unknown): AiomsgError {
  if (err instanceof AiomsgError) return err;
  return new ProtocolError("ERR_AIOMSG_MALFORMED", err instanceof Error ? err.message : String(err));
}
