/**
 * Liveness for one connection (wire.md "Behaviour shared by both protocols"):
 * send a heartbeat after `interval` ms without sending anything, and declare
 * the peer dead after `timeout` ms without receiving anything. One timer per
 * connection, re-armed for whichever deadline comes first; traffic only
 * updates two timestamps.
 */
export class Heartbeat {
  private lastSent = 0;
  private lastRecv = 0;
  private timer: NodeJS.Timeout | undefined;
  private recheck: NodeJS.Immediate | undefined;
  private suspended = false;

  constructor(
    private readonly interval: number,
    private readonly timeout: number,
    private readonly onIdle: () => void,
    private readonly onSilence: () => void,
  ) {}

  start(): void {
    const now = performance.now();
    this.lastSent = now;
    this.lastRecv = now;
    this.arm(Math.min(this.interval, this.timeout));
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
      this.arm(Math.min(this.lastSent + this.interval, this.lastRecv + this.timeout) - now);
      return;
    }
    this.onSilence();
  };

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
    if (now - this.lastSent >= this.interval) {
      this.onIdle();
      this.lastSent = now;
    }
    const next = Math.min(this.lastSent + this.interval, this.lastRecv + this.timeout) - now;
    this.arm(next);
  };
}
