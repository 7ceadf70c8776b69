/**
 * The Node WebSocket connect end (ws:// and wss://) against TS bind ends:
 * every send mode, at-least-once, reconnect across a restart, URL forms, and
 * the close codes each way a connection can end. Against real Python aiomsg
 * bind ends: interop/test and test/reliability.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import { once } from "node:events";
import { Socket, type SocketOptions, UsageError } from "../src/index.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { cleanupRegistry, waitFor } from "./helpers.js";

const { sock } = cleanupRegistry(afterEach);
let certs: TestCerts | undefined;
const tlsCerts = (): TestCerts => (certs ??= makeCerts());

async function bound(opts: SocketOptions = {}, useTls = false): Promise<Socket> {
  const s = sock(opts);
  await s.bind("127.0.0.1", 0, useTls ? { tls: { cert: tlsCerts().cert, key: tlsCerts().key } } : {});
  return s;
}

async function wsPeer(url: string, opts: SocketOptions = {}, useTls = false): Promise<Socket> {
  const c = sock(opts);
  const up = once(c, "peerConnected");
  await c.connect(url, useTls ? { tls: { ca: tlsCerts().ca } } : {});
  await up;
  return c;
}

describe("WebSocket connect ends", () => {
  for (const scheme of ["ws", "wss"] as const) {
    it(`${scheme}:// carries messages both ways and reports the transport`, async () => {
      const server = await bound({}, scheme === "wss");
      const kinds: string[] = [];
      const client = sock();
      client.on("peerConnected", (i) => kinds.push(`${i.protocol}/${i.transport}`));
      const up = once(client, "peerConnected");
      await client.connect(`${scheme}://localhost:${server.port}/aiomsg`, scheme === "wss" ? { tls: { ca: tlsCerts().ca } } : {});
      await up;
      await waitFor(() => server.peerCount === 1);
      await client.send("hello over " + scheme);
      expect((await server.recv()).toString()).toBe(`hello over ${scheme}`);
      await server.send("back", { identity: client.identity });
      expect((await client.recv()).toString()).toBe("back");
      expect(kinds).toEqual([`v1/${scheme}`]);
    });
  }

  it("round-robin and publish from a bind end to WebSocket peers, and at-least-once from a WebSocket peer", async () => {
    const server = await bound({ sendMode: "publish" });
    const a = await wsPeer(`ws://127.0.0.1:${server.port}/`);
    const b = await wsPeer(`ws://127.0.0.1:${server.port}/`);
    await waitFor(() => server.peerCount === 2);
    for (let i = 0; i < 100; i++) await server.send(`p${i}`);
    for (const peer of [a, b]) for (let i = 0; i < 100; i++) expect((await peer.recv()).toString()).toBe(`p${i}`);

    const rr = await bound();
    const c = await wsPeer(`ws://127.0.0.1:${rr.port}/`);
    const d = await wsPeer(`ws://127.0.0.1:${rr.port}/`);
    await waitFor(() => rr.peerCount === 2);
    for (let i = 0; i < 10; i++) await rr.send(`r${i}`);
    const got = [...(await Promise.all([c, d].map(async (p) => [(await p.recv()).toString()]))).flat()];
    expect(got.length).toBe(2);

    const sink = await bound();
    const alo = await wsPeer(`ws://127.0.0.1:${sink.port}/`, { deliveryGuarantee: "at-least-once", resendInterval: 60_000 });
    const dropped: unknown[] = [];
    alo.on("dropped", (x) => dropped.push(x));
    for (let i = 0; i < 500; i++) await alo.send(`a${i}`);
    for (let i = 0; i < 500; i++) expect((await sink.recv()).toString()).toBe(`a${i}`);
    await alo.close({ linger: 2000 });
    expect(dropped).toEqual([]);
  });

  it("reconnects across a restart of the bind end, and what was sent meanwhile arrives", async () => {
    const first = await bound();
    const port = first.port!;
    const client = await wsPeer(`ws://127.0.0.1:${port}/`, { reconnectionDelay: 20 });
    const gone = once(client, "peerDisconnected");
    await first.close({ linger: 0 });
    await gone;
    await client.send("while down");
    const second = sock();
    await second.bind("127.0.0.1", port);
    expect((await second.recv()).toString()).toBe("while down");
  });

  it("takes tcp:// as the URL form of connect(host, port)", async () => {
    const server = await bound();
    const c = sock();
    const up = once(c, "peerConnected");
    await c.connect(`tcp://127.0.0.1:${server.port}`);
    await up;
    await c.send("x");
    expect((await server.recv()).toString()).toBe("x");
  });

  it("refuses unknown schemes, ws:// with the legacy wire, and a port beside a URL", async () => {
    await expect(sock().connect("http://127.0.0.1:1")).rejects.toBeInstanceOf(UsageError);
    await expect(sock({ protocol: "legacy" }).connect("ws://127.0.0.1:1/")).rejects.toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    await expect(sock().connect("ws://127.0.0.1:1/", 5 as never)).rejects.toBeInstanceOf(UsageError);
  });
});

describe("WebSocket close codes", () => {
  /** A raw WebSocket client (hand-written, RFC 6455) that records the close code the server sends. */
  async function closeCodeAfter(server: Socket, act: (s: net.Socket) => void): Promise<number | undefined> {
    const s = net.connect(server.port!, "127.0.0.1");
    await once(s, "connect");
    let buf = Buffer.alloc(0);
    let code: number | undefined;
    let upgraded = false;
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        upgraded = true;
        buf = buf.subarray(end + 4);
      }
      while (buf.length >= 2) {
        const len = buf[1]! & 0x7f; // server frames here are small or binary; only close frames matter
        let off = 2;
        let n = len;
        if (len === 126) {
          n = buf.readUInt16BE(2);
          off = 4;
        }
        if (buf.length < off + n) return;
        if ((buf[0]! & 0x0f) === 0x8 && n >= 2) code = buf.readUInt16BE(off);
        buf = buf.subarray(off + n);
      }
    });
    s.on("error", () => undefined);
    s.write(
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    act(s);
    await once(s, "close");
    return code;
  }

  const masked = (payload: Buffer): Buffer => Buffer.concat([Buffer.from([0x82, 0x80 | payload.length]), Buffer.alloc(4), payload]);
  const frame = (body: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]);
  const hello = (id: number): Buffer => masked(frame(Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(16, id)])));

  it("an orderly close sends 1000", async () => {
    const server = await bound();
    const code = closeCodeAfter(server, (s) => s.write(hello(1)));
    await waitFor(() => server.peerCount === 1);
    await server.close();
    expect(await code).toBe(1000);
  });

  it("a heartbeat timeout sends 1001 and a handshake timeout 1001, not 1002", async () => {
    const hb = await bound({ heartbeatInterval: 50, heartbeatTimeout: 200 });
    expect(await closeCodeAfter(hb, (s) => s.write(hello(2)))).toBe(1001);
    const hs = await bound({ handshakeTimeout: 200 });
    expect(await closeCodeAfter(hs, () => undefined)).toBe(1001);
  });

  it("a duplicate identity is refused with 1008, a protocol error closes with 1002", async () => {
    const server = await bound();
    const first = closeCodeAfter(server, (s) => s.write(hello(3)));
    await waitFor(() => server.peerCount === 1);
    expect(await closeCodeAfter(server, (s) => s.write(hello(3)))).toBe(1008);
    expect(await closeCodeAfter(server, (s) => s.write(masked(frame(Buffer.from([1, 9, ...Buffer.alloc(16, 4)])))))).toBe(1002);
    await server.close({ linger: 0 });
    await first;
  });

  it("an auto bind end refuses a 2019 handshake over WebSocket (2019 had none)", async () => {
    const server = await bound({ protocol: "auto" });
    const errors: string[] = [];
    server.on("error", (e) => errors.push(e.code));
    expect(await closeCodeAfter(server, (s) => s.write(masked(frame(Buffer.alloc(16, 5)))))).toBe(1002);
    expect(errors).toContain("ERR_AIOMSG_UNKNOWN_DIALECT");
  });
});
