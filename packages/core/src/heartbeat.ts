/**
 * Liveness for one connection (docs/protocol.md "Behaviour shared by every generation"):
 * send a heartbeat after `interval` ms without sending anything, declare the
 * peer dead after `timeout` ms without receiving anything, and declare it a
 * slow consumer when writes queued for it make no progress for
 * `stallTimeout` ms (NATS's rule). One timer per connection, re-armed for
 * whichever deadline comes first; traffic only updates timestamps.
 */
export interface HeartbeatHooks {
  /** Nothing was sent for `interval`: send a heartbeat. */
  idle(): void;
  /** Nothing was received for `timeout`. */
  silent(): void;
  /** Queued writes made no progress for `stallTimeout`. */
  stalled(): void;
  /** When queued writes last made progress (performance.now()), or -1 when nothing is queued. */
  writeProgress(): number;
}

export class Heartbeat {
  private lastSent = 0;
  private lastRecv = 0;
  private timer: NodeJS.Timeout | undefined;
  private recheck: NodeJS.Immediate | undefined;
  private suspended = false;

  constructor(
    private readonly interval: number,
    private readonly timeout: number,
    private readonly stallTimeout: number,
    private readonly hooks: HeartbeatHooks,
  ) {}

  start(): void {
    const now = performance.now();
    this.lastSent = now;
    this.lastRecv = now;
    this.arm(Math.min(this.interval, this.timeout, this.stallTimeout));
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.recheck !== undefined) clearImmediate(this.recheck);
    this.timer = undefined;
    this.recheck = undefined;
  }

  sent(): void {
    this.lastSent = performance.now();
  }

  received(): void {
    this.lastRecv = performance.now();
  }

  /** While reading is paused for backpressure, silence is ours, not the peer's. */
  suspend(on: boolean): void {
    this.suspended = on;
    if (!on) this.received();
  }

  private readonly confirmSilence = (): void => {
    this.recheck = undefined;
    const now = performance.now();
    if (this.suspended || now - this.lastRecv < this.timeout) {
      this.arm(this.nextDeadline(this.hooks.writeProgress()) - now);
      return;
    }
    this.hooks.silent();
  };

  private nextDeadline(progress: number): number {
    const t = Math.min(this.lastSent + this.interval, this.lastRecv + this.timeout);
    return progress >= 0 ? Math.min(t, progress + this.stallTimeout) : t;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(ms)));
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const now = performance.now();
    if (this.suspended) this.lastRecv = now;
    if (now - this.lastRecv >= this.timeout) {
      // Timers run before the loop polls sockets: after a long stretch of
      // JavaScript the peer's frames may be waiting unread. Let one poll
      // phase pass before calling the peer silent.
      if (this.recheck === undefined) this.recheck = setImmediate(this.confirmSilence);
      return;
    }
    const progress = this.hooks.writeProgress();
    if (progress >= 0 && now - progress >= this.stallTimeout) {
      this.hooks.stalled();
      return;
    }
    if (now - this.lastSent >= this.interval) {
      // With writes queued the peer has something coming already; another
      // frame would only lengthen a queue it is not reading.
      if (progress < 0) this.hooks.idle();
      this.lastSent = now;
    }
    this.arm(this.nextDeadline(progress) - now);
  };
}
