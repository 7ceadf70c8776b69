/** Test helpers: conditions with deadlines (never bare sleeps) and a raw TCP peer. */
import * as net from "node:net";
import * as tls from "node:tls";
import { once } from "node:events";
import { FrameDecoder, bodies, Socket, encodeFrame, type SocketOptions } from "../src/index.js";

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function hexBuf(h: string): Buffer {
  return Buffer.from(h, "hex");
}

export const AA = Buffer.alloc(16, 0xaa);
export const CC = Buffer.alloc(16, 0xcc);

/** A hand-driven peer that speaks bytes and records the frames it receives. */
export class RawPeer {
  readonly frames: Buffer[] = [];
  readonly bytes: Buffer[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(bodies((b) => this.frames.push(Buffer.from(b))));

  constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.bytes.push(d);
      try {
        this.decoder.push(d);
      } catch {
        /* raw peers record, they do not judge */
      }
    });
    sock.on("error", () => undefined);
    sock.on("close", () => {
      this.closed = true;
    });
  }

  static async connect(port: number): Promise<RawPeer> {
    const s = net.connect(port, "127.0.0.1");
    await once(s, "connect");
    return new RawPeer(s);
  }

  write(hex: string | Buffer): void {
    this.sock.write(typeof hex === "string" ? hexBuf(hex) : hex);
  }

  frame(body: Buffer | string): void {
    this.sock.write(encodeFrame(typeof body === "string" ? hexBuf(body) : body));
  }

  allBytes(): Buffer {
    return Buffer.concat(this.bytes);
  }

  async waitFrames(n: number, timeoutMs = 5000): Promise<Buffer[]> {
    await waitFor(() => this.frames.length >= n, timeoutMs, `${n} frames (have ${this.frames.length})`);
    return this.frames;
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.closed, timeoutMs, "raw peer closed");
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** A raw listening peer (over TLS with `tlsOptions`): resolves each accepted connection as a RawPeer. */
export async function rawServer(tlsOptions?: tls.TlsOptions): Promise<{ port: number; next(): Promise<RawPeer>; close(): void }> {
  const accepted: RawPeer[] = [];
  const onConn = (s: net.Socket): void => void accepted.push(new RawPeer(s));
  const server = tlsOptions ? tls.createServer(tlsOptions, onConn) : net.createServer(onConn);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  let taken = 0;
  return {
    port: (server.address() as net.AddressInfo).port,
    async next() {
      await waitFor(() => accepted.length > taken, 5000, "an accepted connection");
      return accepted[taken++]!;
    },
    close() {
      for (const p of accepted) p.destroy();
      server.close();
    },
  };
}

export interface VectorLine {
  t: number;
  dir: "c2b" | "b2c";
  hex: string;
}

export async function loadVector(name: string): Promise<VectorLine[]> {
  const { readFile } = await import("node:fs/promises");
  // Copied from the shared golden transcripts so a fresh clone carries them.
  const url = new URL(`./vectors/${name}.jsonl`, import.meta.url);
  const text = await readFile(url, "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as VectorLine);
}

export function streamOf(lines: VectorLine[], dir: "c2b" | "b2c"): Buffer[] {
  return lines.filter((l) => l.dir === dir).map((l) => hexBuf(l.hex));
}

/** Hex of one framed body given as hex. */
export function encodeFrameHex(bodyHex: string): string {
  return encodeFrame(hexBuf(bodyHex)).toString("hex");
}

/**
 * Per-file cleanup registry: `track()` a closer, and every closer runs (newest
 * first) after each test. `sock()` makes a Socket closed that way.
 */
export function cleanupRegistry(afterEach: (fn: () => Promise<void>) => void): {
  track(fn: () => unknown): void;
  sock(opts?: SocketOptions): Socket;
} {
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  return {
    track: (fn) => closers.push(fn),
    sock(opts = {}) {
      const s = new Socket(opts);
      closers.push(() => s.close({ linger: 0 }));
      return s;
    },
  };
}
