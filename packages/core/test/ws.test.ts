/**
 * The WebSocket sub-transport of v1 bind ends, driven by a hand-written RFC 6455
 * client (masked frames, arbitrary message boundaries) over TCP and TLS.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import * as tls from "node:tls";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { AiomsgError, FrameDecoder, bodies, Socket, encodeFrame } from "../src/index.js";
import { acceptKey } from "../src/ws/frames.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { waitFor } from "./helpers.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One client frame: masked unless told otherwise. */
function wsFrame(opcode: number, payload: Buffer, { mask = true, fin = true } = {}): Buffer {
  const len = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else if (len < 65536) head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
  else head.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** A minimal WebSocket client that exposes the server's frames and the aiomsg stream inside them. */
class WsClient {
  response = "";
  upgraded = false;
  closed = false;
  readonly serverFrames: Array<{ opcode: number; masked: boolean; payload: Buffer }> = [];
  readonly aiomsgFrames: Buffer[] = [];
  private buf = Buffer.alloc(0);
  private readonly decoder = new FrameDecoder(bodies((b) => this.aiomsgFrames.push(Buffer.from(b))));

  constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("close", () => (this.closed = true));
    sock.on("error", () => undefined);
  }

  upgrade(key = randomBytes(16).toString("base64"), extra = ""): string {
    this.sock.write(
      `GET /aiomsg HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    return key;
  }

  send(bytes: Buffer, chunk = bytes.length || 1): void {
    // Arbitrary message boundaries: aiomsg frames cut across WebSocket messages.
    for (let off = 0; off < bytes.length; off += chunk) this.sock.write(wsFrame(0x2, bytes.subarray(off, off + chunk)));
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.response = this.buf.subarray(0, end).toString("latin1");
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = this.response.startsWith("HTTP/1.1 101");
    }
    while (this.buf.length >= 2) {
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = this.buf.readUInt32BE(6);
        off = 10;
      }
      if (this.buf.length < off + len) return;
      const payload = Buffer.from(this.buf.subarray(off, off + len));
      const opcode = this.buf[0]! & 0x0f;
      this.serverFrames.push({ opcode, masked, payload });
      if (opcode === 0x2 || opcode === 0x0) this.decoder.push(payload);
      this.buf = this.buf.subarray(off + len);
    }
  }
}

async function wsClient(port: number, useTls?: Buffer): Promise<WsClient> {
  const s = useTls ? tls.connect({ port, host: "127.0.0.1", ca: useTls, servername: "localhost" }) : net.connect(port, "127.0.0.1");
  await once(s, useTls ? "secureConnect" : "connect");
  const c = new WsClient(s);
  cleanups.push(() => s.destroy());
  return c;
}

async function server(opts: ConstructorParameters<typeof Socket>[0] = {}, tlsOpts?: tls.TlsOptions): Promise<Socket> {
  const s = new Socket(opts);
  cleanups.push(() => s.close({ linger: 0 }));
  await s.bind("127.0.0.1", 0, { tls: tlsOpts });
  return s;
}

let certsOnce: TestCerts | undefined;
/** One throwaway certificate set for the tests that need one. */
const tlsCerts = (): TestCerts => (certsOnce ??= makeCerts());

const CLIENT_ID = Buffer.alloc(16, 0x77);
const hello = (): Buffer => encodeFrame(Buffer.concat([Buffer.from([1, 1]), CLIENT_ID]));
const data = (text: string): Buffer => encodeFrame(Buffer.concat([Buffer.from([3]), Buffer.from(text)]));

describe("WebSocket clients on a v1 bind socket", () => {
  it("upgrades, then carries aiomsg frames in binary messages both ways, boundaries meaning nothing", async () => {
    const srv = await server({ heartbeatInterval: 100 });
    const c = await wsClient(srv.port!);
    const key = c.upgrade();
    await waitFor(() => c.upgraded, 2000, "101 Switching Protocols");
    expect(c.response).toContain(`Sec-WebSocket-Accept: ${acceptKey(key)}`);
    expect(c.response.toLowerCase()).not.toContain("sec-websocket-extensions");
    expect(c.response.toLowerCase()).not.toContain("sec-websocket-protocol");
    c.send(Buffer.concat([hello(), data("one"), data("two"), data("three")]), 5);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [id, m] = await srv.recvIdentity();
      expect(id.equals(CLIENT_ID)).toBe(true);
      got.push(m.toString());
    }
    expect(got).toEqual(["one", "two", "three"]);
    await srv.send("to-browser");
    await waitFor(() => c.aiomsgFrames.some((f) => f[0] === 3), 2000, "a DATA frame to the client");
    expect(c.aiomsgFrames[0]!.toString("hex")).toBe("0101" + srv.identity.toString("hex"));
    expect(c.aiomsgFrames.find((f) => f[0] === 3)!.subarray(1).toString()).toBe("to-browser");
    expect(c.serverFrames.every((f) => !f.masked && f.opcode === 2)).toBe(true);
    // Heartbeats reach the client too, inside binary messages.
    await waitFor(() => c.aiomsgFrames.some((f) => f.length === 1 && f[0] === 2), 2000, "a heartbeat");
  });

  for (const [protocol, useTls] of [["v1", false], ["auto", false], ["v1", true], ["auto", true]] as const) {
    it(`a ${protocol} bind end admits a 64-byte HELLO from a ${useTls ? "wss" : "ws"} client, its tail ignored`, async () => {
      const srv = await server({ protocol }, useTls ? { cert: tlsCerts().cert, key: tlsCerts().key } : undefined);
      const c = await wsClient(srv.port!, useTls ? tlsCerts().ca : undefined);
      c.upgrade();
      await waitFor(() => c.upgraded, 2000, "101 Switching Protocols");
      const long = Buffer.alloc(64, 0xee);
      long[0] = 1;
      long[1] = 1;
      CLIENT_ID.copy(long, 2);
      c.send(Buffer.concat([encodeFrame(long), data("after")]), 7);
      const [id, m] = await srv.recvIdentity();
      expect(id.equals(CLIENT_ID)).toBe(true);
      expect(m.toString()).toBe("after");
      await waitFor(() => c.aiomsgFrames.length >= 1, 2000, "the bind end's HELLO");
      expect(c.aiomsgFrames[0]!.equals(Buffer.concat([Buffer.from([1, 1]), srv.identity]))).toBe(true);
    });
  }

  it("answers a ping with a pong carrying the same payload", async () => {
    const srv = await server();
    const c = await wsClient(srv.port!);
    c.upgrade();
    await waitFor(() => c.upgraded);
    c.sock.write(wsFrame(0x9, Buffer.from("are-you-there")));
    await waitFor(() => c.serverFrames.some((f) => f.opcode === 0xa), 2000, "a pong");
    expect(c.serverFrames.find((f) => f.opcode === 0xa)!.payload.toString()).toBe("are-you-there");
  });

  for (const [what, frame, code] of [
    ["an unmasked client frame", () => wsFrame(0x2, hello(), { mask: false }), 1002],
    ["a text frame", () => wsFrame(0x1, Buffer.from("hi")), 1003],
  ] as const) {
    it(`closes on ${what} with close code ${code}; other peers keep working`, async () => {
      const srv = await server();
      const errors: AiomsgError[] = [];
      srv.on("error", (e) => errors.push(e));
      const good = new Socket();
      cleanups.push(() => good.close({ linger: 0 }));
      await good.connect("127.0.0.1", srv.port!);
      await waitFor(() => srv.peerCount === 1);
      const c = await wsClient(srv.port!);
      c.upgrade();
      await waitFor(() => c.upgraded);
      c.sock.write(frame());
      await waitFor(() => c.closed, 3000, "the server to hang up");
      const close = c.serverFrames.find((f) => f.opcode === 0x8);
      expect(close?.payload.readUInt16BE(0)).toBe(code);
      expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_WEBSOCKET");
      await good.send("fine");
      expect((await srv.recv()).toString()).toBe("fine");
    });
  }

  it("refuses a bad upgrade request with 400", async () => {
    const srv = await server();
    const c = await wsClient(srv.port!);
    c.sock.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n");
    await waitFor(() => c.closed, 3000);
    expect(c.upgraded).toBe(false);
    expect(c.response.startsWith("HTTP/1.1 400")).toBe(true);
  });

  it("refuses an upgrade request over 8 KiB", async () => {
    const srv = await server();
    const errors: AiomsgError[] = [];
    srv.on("error", (e) => errors.push(e));
    const c = await wsClient(srv.port!);
    c.upgrade(undefined, `X-Pad: ${"a".repeat(9000)}\r\n`);
    await waitFor(() => c.closed, 3000);
    expect(c.upgraded).toBe(false);
    expect(errors.map((e) => e.message).join()).toContain("8 KiB");
  });

  it("answers a close frame and ends the connection cleanly", async () => {
    const srv = await server();
    const c = await wsClient(srv.port!);
    c.upgrade();
    await waitFor(() => c.upgraded);
    c.send(hello());
    await waitFor(() => srv.peerCount === 1);
    const gone = once(srv, "peerDisconnected");
    c.sock.write(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
    const [info] = await gone;
    expect(info.reason).toBeUndefined();
    await waitFor(() => c.serverFrames.some((f) => f.opcode === 0x8));
  });

  it("serves raw TLS peers and wss:// clients on the same TLS port", async () => {
    const certs = makeCerts();
    const srv = await server({}, { cert: certs.cert, key: certs.key });
    const rawPeer = new Socket();
    cleanups.push(() => rawPeer.close({ linger: 0 }));
    await rawPeer.connect("127.0.0.1", srv.port!, { tls: { ca: certs.ca, servername: "localhost" } });
    const c = await wsClient(srv.port!, certs.ca);
    c.upgrade();
    await waitFor(() => c.upgraded);
    c.send(Buffer.concat([hello(), data("over-wss")]));
    await rawPeer.send("over-tls");
    const got = new Set<string>();
    for (let i = 0; i < 2; i++) got.add((await srv.recv()).toString());
    expect(got).toEqual(new Set(["over-wss", "over-tls"]));
  });

  it("a legacy bind socket greets at once and does not speak WebSocket (2019 had none)", async () => {
    const srv = await server({ protocol: "legacy" });
    const c = await wsClient(srv.port!);
    c.upgrade();
    await waitFor(() => c.closed, 3000);
    expect(c.upgraded).toBe(false);
  });
});
