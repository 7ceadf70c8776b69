/**
 * The v1 handshake is forward compatible: a HELLO longer than 18 bytes is
 * accepted and its tail ignored (as Python 2026.7.1 does), on bind, connect
 * and auto ends, over TCP, TLS and WebSocket; the handshake stays bounded by
 * MAX_HELLO_SIZE.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as net from "node:net";
import * as tls from "node:tls";
import { once } from "node:events";
import { AiomsgError, MAX_HELLO_SIZE, encodeFrame, type ProtocolOption } from "../src/index.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { RawPeer, cleanupRegistry, rawServer, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});

const PEER_ID = Buffer.alloc(16, 0x5a);
/** A v1 HELLO of `size` bytes: type, version, identity, then a tail of 0xee. */
function longHello(size: number, identity = PEER_ID): Buffer {
  const out = Buffer.alloc(size, 0xee);
  out[0] = 1;
  out[1] = 1;
  identity.copy(out, 2);
  return out;
}
const dataFrame = (text: string): Buffer => encodeFrame(Buffer.concat([Buffer.from([3]), Buffer.from(text)]));

async function rawConnect(port: number, useTls: boolean): Promise<RawPeer> {
  const s = useTls ? tls.connect({ port, host: "127.0.0.1", ca: certs.ca, servername: "localhost" }) : net.connect(port, "127.0.0.1");
  await once(s, useTls ? "secureConnect" : "connect");
  const peer = new RawPeer(s);
  track(() => peer.destroy());
  return peer;
}

/** A raw listener (TCP or TLS) whose accepted connections are RawPeers. */
async function rawListener(useTls: boolean): Promise<{ port: number; next(): Promise<RawPeer> }> {
  const server = await rawServer(useTls ? { cert: certs.cert, key: certs.key } : undefined);
  track(() => server.close());
  return server;
}

describe("a v1 HELLO longer than 18 bytes", () => {
  for (const useTls of [false, true]) {
    for (const protocol of ["v1", "auto"] as ProtocolOption[]) {
      for (const size of [19, 20, 64, MAX_HELLO_SIZE]) {
        it(`a ${protocol} bind end over ${useTls ? "TLS" : "TCP"} admits a ${size}-byte HELLO, its identity the 16 bytes after the version, and greets`, async () => {
          const server = sock({ protocol });
          await server.bind("127.0.0.1", 0, useTls ? { tls: { cert: certs.cert, key: certs.key } } : {});
          const raw = await rawConnect(server.port!, useTls);
          raw.write(Buffer.concat([encodeFrame(longHello(size)), dataFrame("after-long-hello")]));
          const [from, payload] = await server.recvIdentity();
          expect(from.equals(PEER_ID)).toBe(true);
          expect(payload.toString()).toBe("after-long-hello");
          const [greeting] = await raw.waitFrames(1);
          expect(greeting!.equals(Buffer.concat([Buffer.from([1, 1]), server.identity]))).toBe(true);
          expect(server.peerIdentities.map((b) => b.toString("hex"))).toEqual([PEER_ID.toString("hex")]);
        });
      }

      it(`a ${protocol} connect end over ${useTls ? "TLS" : "TCP"} accepts a bind end's 64-byte HELLO`, async () => {
        const listener = await rawListener(useTls);
        const client = sock({ protocol });
        const up = once(client, "peerConnected");
        await client.connect("127.0.0.1", listener.port, useTls ? { tls: { ca: certs.ca, servername: "localhost" } } : {});
        const raw = await listener.next();
        // As a Python 2026.7.1 bind end: greet, with a longer HELLO.
        raw.write(encodeFrame(longHello(64)));
        const [info] = await up;
        expect(info.identity.equals(PEER_ID)).toBe(true);
        expect(info.protocol).toBe("v1");
        raw.write(dataFrame("from-bind"));
        expect((await client.recv()).toString()).toBe("from-bind");
        await client.send("to-bind");
        await waitFor(() => raw.frames.some((f) => f[0] === 3 && f.subarray(1).toString() === "to-bind"), 5000, "DATA to-bind");
      });
    }
  }

  it(`a HELLO longer than MAX_HELLO_SIZE (${MAX_HELLO_SIZE} bytes) closes the connection with ERR_AIOMSG_BAD_HELLO before its body is buffered`, async () => {
    const server = sock({ protocol: "v1" });
    await server.bind("127.0.0.1", 0);
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await rawConnect(server.port!, false);
    // Only the length prefix: the refusal must not wait for the body.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(MAX_HELLO_SIZE + 1);
    raw.write(prefix);
    await raw.waitClosed();
    await waitFor(() => errors.length > 0, 2000, "an error event");
    expect(errors.map((e) => e.code)).toEqual(["ERR_AIOMSG_BAD_HELLO"]);
    expect(raw.frames).toEqual([]);
  });
});

describe("v1 HELLO codec", () => {
  it("decodes a longer HELLO to its version and 16-byte identity", async () => {
    const { v1 } = await import("../src/index.js");
    expect(v1.decode(longHello(40))).toEqual({ type: "hello", version: 1, identity: PEER_ID });
    expect(() => v1.decode(longHello(17))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_MALFORMED" }));
  });
});
