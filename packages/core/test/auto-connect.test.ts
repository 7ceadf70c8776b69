/**
 * How an auto connect end finds the bind end's generation without waiting:
 * it writes WAKE (00 00 00, the start of every generation's handshake frame)
 * at once, then answers a whole greeting in its generation, or WAKE alone (a
 * TS v1 or auto bind end, which sends it back on the first byte) in v1; only
 * a bind end that says nothing costs autoDetectDelay.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { early, encodeFrame, v1, type ProtocolOption } from "../src/index.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { RawPeer, cleanupRegistry, rawServer, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);
const WAKE = Buffer.from([0, 0, 0]);
/** Long enough that a test passing under it cannot have waited for it. */
const NEVER = 60_000;

async function rawListener() {
  const l = await rawServer();
  track(() => l.close());
  return l;
}

describe("auto connect end", () => {
  it("writes WAKE at once and nothing more while the bind end is silent", async () => {
    const l = await rawListener();
    const client = sock({ protocol: "auto", autoDetectDelay: NEVER });
    await client.connect("127.0.0.1", l.port);
    const raw = await l.next();
    await waitFor(() => raw.allBytes().length >= 3, 5000, "WAKE");
    // Nothing follows WAKE until the bind end speaks: the loop turns a few times meanwhile.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(raw.allBytes().equals(WAKE)).toBe(true);
  });

  for (const [what, greeting, dialect, answer] of [
    ["a v1 HELLO (Python 2026.7.1 greets on WAKE's first byte)", v1.hello(Buffer.alloc(16, 0xb1)), "v1", (id: Buffer) => v1.hello(id)],
    ["a 16-byte identity (legacy greets on accept)", Buffer.alloc(16, 0xb2), "legacy", (id: Buffer) => id],
    ["a UUID text identity (early greets on accept)", early.hello(Buffer.alloc(16, 0xb3)), "early", (id: Buffer) => early.hello(id)],
  ] as const) {
    it(`answers ${what} with the rest of its ${dialect} handshake frame after WAKE`, async () => {
      const l = await rawListener();
      const client = sock({ protocol: "auto", autoDetectDelay: NEVER });
      const up = once(client, "peerConnected");
      await client.connect("127.0.0.1", l.port);
      const raw = await l.next();
      raw.write(encodeFrame(greeting));
      const [info] = await up;
      expect(info.protocol).toBe(dialect);
      // WAKE and the rest are one frame: the bind end reads our handshake whole.
      await waitFor(() => raw.frames.length >= 1, 5000, "our handshake frame");
      expect(raw.frames[0]!.equals(answer(client.identity))).toBe(true);
      expect(raw.allBytes().subarray(0, 3).equals(WAKE)).toBe(true);
    });
  }

  it("hearing WAKE alone, speaks v1 at once", async () => {
    const l = await rawListener();
    const client = sock({ protocol: "auto", autoDetectDelay: NEVER });
    await client.connect("127.0.0.1", l.port);
    const raw = await l.next();
    raw.write(WAKE);
    await waitFor(() => raw.frames.length >= 1, 5000, "the HELLO");
    expect(raw.frames[0]!.equals(v1.hello(client.identity))).toBe(true);
  });

  it("speaks v1 after autoDetectDelay when the bind end says nothing", async () => {
    const l = await rawListener();
    const client = sock({ protocol: "auto", autoDetectDelay: 50 });
    await client.connect("127.0.0.1", l.port);
    const raw = await l.next();
    await waitFor(() => raw.frames.length >= 1, 5000, "the HELLO after the delay");
    expect(raw.frames[0]!.equals(v1.hello(client.identity))).toBe(true);
  });

  for (const bindProtocol of ["v1", "auto", "legacy", "early"] as ProtocolOption[]) {
    it(`connects to a TS ${bindProtocol} bind end without waiting autoDetectDelay, and reconnects the same way`, async () => {
      const server = sock({ protocol: bindProtocol });
      await server.bind("127.0.0.1", 0);
      const client = sock({ protocol: "auto", autoDetectDelay: NEVER, reconnectionDelay: 10 });
      // Redials while the port is closed fail: expected here.
      client.on("error", () => undefined);
      const up = once(client, "peerConnected");
      await client.connect("127.0.0.1", server.port!);
      const [info] = await up;
      expect(info.protocol).toBe(bindProtocol === "auto" ? "v1" : bindProtocol);
      await client.send("hi");
      expect((await server.recv()).toString()).toBe("hi");
      // Drop the connection from the bind side: the connect end redials and handshakes again.
      // Not events.once: it would reject on the redials' error events.
      const again = new Promise((resolve) => client.once("peerConnected", resolve));
      const port = server.port!;
      await server.close({ linger: 0 });
      const server2 = sock({ protocol: bindProtocol });
      await server2.bind("127.0.0.1", port);
      await again;
      await client.send("again");
      expect((await server2.recv()).toString()).toBe("again");
    });
  }
});

describe("auto connect end over TLS", () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeCerts();
  });

  for (const bindProtocol of ["v1", "auto"] as ProtocolOption[]) {
    it(`connects to a TS ${bindProtocol} TLS bind end without waiting autoDetectDelay (WAKE inside TLS)`, async () => {
      const server = sock({ protocol: bindProtocol });
      await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
      const client = sock({ protocol: "auto", autoDetectDelay: NEVER });
      const up = once(client, "peerConnected");
      await client.connect("127.0.0.1", server.port!, { tls: { ca: certs.ca, servername: "localhost" } });
      const [info] = await up;
      expect([info.protocol, info.transport]).toEqual(["v1", "tls"]);
      await client.send("over-tls");
      expect((await server.recv()).toString()).toBe("over-tls");
    });
  }
});

describe("v1 and auto bind ends answer a connection's first bytes with WAKE", () => {
  for (const protocol of ["v1", "auto"] as ProtocolOption[]) {
    it(`${protocol}: WAKE on the first byte, the rest of the greeting only after the HELLO is accepted`, async () => {
      const server = sock({ protocol });
      await server.bind("127.0.0.1", 0);
      const raw = await RawPeer.connect(server.port!);
      track(() => raw.destroy());
      raw.write(Buffer.from([0]));
      await waitFor(() => raw.allBytes().length >= 3, 5000, "WAKE");
      expect(raw.allBytes().equals(WAKE)).toBe(true);
      expect(raw.frames).toEqual([]);
      raw.write(encodeFrame(v1.hello(Buffer.alloc(16, 0x42))).subarray(1));
      await raw.waitFrames(1);
      expect(raw.frames[0]!.equals(v1.hello(server.identity))).toBe(true);
    });
  }

  it("a refused peer sees WAKE and the close, never the greeting", async () => {
    const server = sock({ protocol: "v1" });
    await server.bind("127.0.0.1", 0);
    const first = sock({ protocol: "v1", identity: Buffer.alloc(16, 0x43) });
    const up = once(server, "peerConnected");
    await first.connect("127.0.0.1", server.port!);
    await up;
    server.on("error", () => undefined);
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.write(encodeFrame(v1.hello(Buffer.alloc(16, 0x43))));
    await raw.waitClosed();
    expect(raw.allBytes().equals(WAKE)).toBe(true);
    expect(raw.frames).toEqual([]);
  });
});

