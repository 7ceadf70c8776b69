/**
 * A Transport over the browser's global `WebSocket` (the connect end of the
 * browser build, browser.ts). Every batch of aiomsg frames travels as one
 * binary message; incoming messages are bytes of the aiomsg stream whatever
 * their boundaries.
 *
 * What a page's WebSocket cannot do, and what this does instead:
 * - Backpressure on reading: a page cannot stop the browser reading its
 *   socket. pause() only stops delivering: messages that arrive meanwhile are
 *   held here and delivered, in order, by resume(). (The receive high-water
 *   marks still bound what the socket queues for the application; what the
 *   server sends while paused waits in this buffer.)
 * - Write completion: `ws.send` never says when bytes left. A batch is
 *   reported done once `bufferedAmount` shows it drained (polled on a timer
 *   while anything is outstanding); `buffered` and `progress` are
 *   `bufferedAmount`.
 * - Close codes: a page may only send 1000 or 3000-4999 (the WebSocket API
 *   throws InvalidAccessError on others). An orderly close sends 1000; a
 *   close with a reason sends 3000 + the RFC 6455 code the Node transports
 *   would send (closeCodeFor): 4001 going away (timeouts), 4002 protocol
 *   error, 4008 policy (refusal, duplicate identity, slow consumer), 4009
 *   frame too large, 4011 internal error. The reason text is the error code.
 */
import { closeCodeFor } from "../ws/close.js";
import { AiomsgError } from "../errors.js";
import type { Transport, TransportHandlers, WriteDone } from "../transport.js";

/** The part of the DOM WebSocket this uses (declared here: the core compiles without the DOM lib). */
export interface BrowserWebSocket {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly url: string;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean: boolean }) => void) | null;
}

export type BrowserWebSocketConstructor = new (url: string) => BrowserWebSocket;

const OPEN = 1;
/** How often write completion is polled while bytes wait in the browser. */
const DRAIN_POLL_MS = 10;

/**
 * The code a page sends when it closes a connection with `reason` (see the
 * header): browsers may send only 1000 or 3000-4999, so RFC 6455's code for
 * the reason goes out as 3000 + it (4001 going away, 4002 protocol error,
 * 4008 refused or slow, 4009 too big, 4011 internal).
 */
export function browserCloseCodeFor(reason: AiomsgError | undefined): number {
  return reason === undefined ? 1000 : 3000 + closeCodeFor(reason);
}

/**
 * The server closed the WebSocket with a code other than 1000: the code and
 * reason it sent are kept. 1008 (a refusal: duplicate identity, maxPeers)
 * counts as ERR_AIOMSG_REFUSED, so reconnection backs off; 1009 as
 * ERR_AIOMSG_FRAME_TOO_LARGE; anything else as ERR_AIOMSG_PEER_LOST.
 */
export class WebSocketClosedError extends AiomsgError {
  constructor(
    readonly closeCode: number,
    readonly closeReason: string,
    url: string,
  ) {
    super(
      closeCode === 1008 ? "ERR_AIOMSG_REFUSED" : closeCode === 1009 ? "ERR_AIOMSG_FRAME_TOO_LARGE" : "ERR_AIOMSG_PEER_LOST",
      `WebSocket ${url} closed with code ${closeCode}${closeReason ? ` (${closeReason})` : ""}`,
    );
    this.name = "WebSocketClosedError";
  }
}

export class BrowserWsTransport implements Transport {
  readonly kind: "ws" | "wss";
  readonly remote: string;
  private h: TransportHandlers | undefined;
  private paused = false;
  private held: Buffer[] = [];
  /** Bytes handed to ws.send so far, and each batch's end in that count with its callback. */
  private sent = 0;
  private waiting: Array<{ end: number; done: WriteDone }> = [];
  private poll: ReturnType<typeof setTimeout> | undefined;
  private finished = false;

  constructor(private readonly ws: BrowserWebSocket) {
    this.kind = ws.url.startsWith("wss:") ? "wss" : "ws";
    this.remote = ws.url;
  }

  start(h: TransportHandlers): void {
    this.h = h;
    this.ws.onmessage = (ev) => {
      const data = ev.data;
      if (!(data instanceof ArrayBuffer)) {
        h.error(new AiomsgError("ERR_AIOMSG_WEBSOCKET", "a text WebSocket message: aiomsg travels in binary messages"));
        return;
      }
      const chunk = Buffer.from(data);
      if (this.paused) this.held.push(chunk);
      else h.data(chunk);
    };
    // A failed WebSocket fires error and then close (the HTML standard's
    // "fail the WebSocket connection"): the close event carries the code that
    // says why (1008 refused, 1009 too large...), so the error waits for it.
    let failed = false;
    this.ws.onerror = () => {
      failed = true;
    };
    this.ws.onclose = (ev) => {
      // What was held while paused still belongs to the stream.
      this.deliverHeld();
      // Why it closed goes first: batches still in the browser are reported
      // after, with the connection already closed for that reason.
      if (ev.code !== 1000 && ev.code !== 1005) {
        h.error(new WebSocketClosedError(ev.code, ev.reason, this.remote));
      } else if (failed && ev.code !== 1000) {
        // (With 1000 the peer's Close arrived: an error after it is the TCP
        // teardown racing the closing handshake, and the close was orderly.)
        h.error(new AiomsgError("ERR_AIOMSG_PEER_LOST", `WebSocket ${this.remote} failed`));
      }
      this.finish();
      h.end();
      h.close();
    };
  }

  write(chunks: Buffer[], bytes: number, done: WriteDone): void {
    if (this.finished || this.ws.readyState !== OPEN) {
      // Not sent at all: the batch comes back to the connection.
      queueMicrotask(() => done(new Error(`WebSocket ${this.remote} is not open`)));
      return;
    }
    const out = new Uint8Array(bytes);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    this.ws.send(out);
    this.sent += bytes;
    this.waiting.push({ end: this.sent, done });
    this.check();
  }

  /** Report the batches bufferedAmount says have left; poll again while some have not. */
  private readonly check = (): void => {
    this.poll = undefined;
    const drained = this.sent - this.ws.bufferedAmount;
    while (this.waiting.length > 0 && this.waiting[0]!.end <= drained) this.waiting.shift()!.done();
    if (this.waiting.length > 0 && !this.finished) this.poll = setTimeout(this.check, DRAIN_POLL_MS);
  };

  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  get progress(): number | undefined {
    return this.ws.bufferedAmount;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deliverHeld();
  }

  private deliverHeld(): void {
    while (this.held.length > 0 && !this.paused) this.h?.data(this.held.shift()!);
  }

  end(): void {
    this.ws.close(1000);
  }

  destroy(reason?: AiomsgError): void {
    this.ws.close(browserCloseCodeFor(reason), reason?.code ?? "");
  }

  /**
   * The connection is gone: batches bufferedAmount never showed leaving are
   * reported as not written. bufferedAmount is not read again here: Chromium
   * reads 0 once the socket has closed, even for a 17 MiB message its peer
   * refused at the length prefix (so a batch that left between two polls is
   * reported too: a report too many, never one too few).
   */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.poll !== undefined) clearTimeout(this.poll);
    const w = this.waiting;
    this.waiting = [];
    const err = new Error(`WebSocket ${this.remote} closed before the write left the browser`);
    for (const x of w) x.done(err);
  }
}

/**
 * One connection attempt: resolves with the transport once `open` fires;
 * rejects on an error or a close before that, or after `timeout` ms.
 */
export function dialBrowserWs(url: string, timeout: number, Ctor?: BrowserWebSocketConstructor): Promise<BrowserWsTransport> {
  const WS = Ctor ?? (globalThis as unknown as { WebSocket?: BrowserWebSocketConstructor }).WebSocket;
  if (WS === undefined) return Promise.reject(new AiomsgError("ERR_AIOMSG_CONNECT_FAILED", "no global WebSocket in this environment"));
  return new Promise((resolve, reject) => {
    let ws: BrowserWebSocket;
    try {
      ws = new WS(url);
    } catch (err) {
      reject(err as Error);
      return;
    }
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      fail(new Error(`connect timeout after ${timeout} ms`));
      ws.close();
    }, timeout);
    const clear = (): void => {
      clearTimeout(timer);
      ws.onopen = ws.onerror = ws.onclose = null;
    };
    const fail = (err: Error): void => {
      clear();
      reject(err);
    };
    ws.onopen = () => {
      clear();
      resolve(new BrowserWsTransport(ws));
    };
    ws.onerror = () => fail(new Error("WebSocket error before open"));
    ws.onclose = (ev) => fail(new Error(`WebSocket closed before open (code ${ev.code})`));
  });
}
