/**
 * The early wire (aiomsg 2018.8.1 to 2019.5.0) and how `auto` tells the three
 * generations apart: the text handshake, its identity mapping, TS<->TS and
 * against raw peers that send what the Python releases send.
 */
import { afterEach, describe, expect, it } from "vitest";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { AiomsgError, Socket, early, encodeFrame, legacy, v1, type SocketOptions } from "../src/index.js";
import { classifyFirstFrame } from "../src/wire/dialects.js";
import { RawPeer, cleanupRegistry, rawServer, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

const ID = Buffer.from("275acd02fd35445e90968923d5db2774", "hex");
const ID_TEXT = "275acd02-fd35-445e-9096-8923d5db2774";

async function connected(server: Socket, opts: SocketOptions): Promise<Socket> {
  const s = sock(opts);
  const up = once(s, "peerConnected");
  await s.connect("127.0.0.1", server.port!);
  await up;
  return s;
}

describe("early handshake codec", () => {
  it("greets with the canonical lowercase UUID text of the 16-byte identity", () => {
    expect(early.hello(ID).toString("latin1")).toBe(ID_TEXT);
    expect(() => early.hello(Buffer.alloc(15))).toThrow(RangeError);
  });

  it("maps a canonical UUID text to its 16 bytes and any other valid UTF-8 to its bytes", () => {
    expect(early.identityFromText(Buffer.from(ID_TEXT)).equals(ID)).toBe(true);
    // Not canonical (upper case, no dashes): kept as text bytes.
    expect(early.identityFromText(Buffer.from(ID_TEXT.toUpperCase())).toString()).toBe(ID_TEXT.toUpperCase());
    expect(early.identityFromText(Buffer.from("275acd02fd35445e90968923d5db2774")).toString()).toBe("275acd02fd35445e90968923d5db2774");
    expect(early.identityFromText(Buffer.from("worker-7")).toString()).toBe("worker-7");
    expect(early.identityFromText(Buffer.from("é")).equals(Buffer.from([0xc3, 0xa9]))).toBe(true);
    // A byte-order mark is part of the text (Python's strict decode keeps it).
    expect(early.identityFromText(Buffer.from([0xef, 0xbb, 0xbf, 0x41])).equals(Buffer.from([0xef, 0xbb, 0xbf, 0x41]))).toBe(true);
  });

  it("refuses an empty or non-UTF-8 identity frame with ERR_AIOMSG_BAD_HELLO", () => {
    for (const bad of [Buffer.alloc(0), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf])]) {
      expect(() => early.identityFromText(bad)).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_BAD_HELLO" }));
    }
  });

  it("classifies a first frame: 16 bytes legacy, 0x01 v1, valid UTF-8 early, anything else legacy, empty none", () => {
    expect(classifyFirstFrame(Buffer.alloc(16, 0xff))).toBe("legacy");
    expect(classifyFirstFrame(Buffer.from("sixteen-chars-id"))).toBe("legacy");
    expect(classifyFirstFrame(v1.hello(ID))).toBe("v1");
    expect(classifyFirstFrame(Buffer.concat([v1.hello(ID), Buffer.alloc(10)]))).toBe("v1");
    expect(classifyFirstFrame(Buffer.from([1, 1, 0xcc]))).toBe("v1");
    expect(classifyFirstFrame(Buffer.from(ID_TEXT))).toBe("early");
    expect(classifyFirstFrame(Buffer.from("w"))).toBe("early");
    expect(classifyFirstFrame(Buffer.alloc(17, 0xfe))).toBe("legacy");
    expect(classifyFirstFrame(Buffer.alloc(0))).toBeUndefined();
  });
});

describe("early wire, TS<->TS", () => {
  it("exchanges messages both ways, at-most-once and at-least-once; each end knows the other by its 16-byte identity", async () => {
    const server = sock({ protocol: "early", identity: ID });
    await server.bind("127.0.0.1", 0);
    const client = await connected(server, { protocol: "early", deliveryGuarantee: "at-least-once" });
    expect(client.peerIdentities.map((b) => b.toString("hex"))).toEqual([ID.toString("hex")]);
    for (let i = 0; i < 20; i++) await client.send(`e${i}`);
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      const [from, m] = await server.recvIdentity();
      expect(from.equals(client.identity)).toBe(true);
      got.push(m.toString());
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`));
    await server.send("back", { identity: client.identity });
    expect((await client.recv()).toString()).toBe("back");
    expect(server.stats().peers.map((p) => p.protocol)).toEqual(["early"]);
    const dropped: unknown[] = [];
    client.on("dropped", (d) => dropped.push(d));
    await client.close({ linger: 3000 });
    expect(dropped).toEqual([]);
  });
});

describe("early wire against raw peers", () => {
  it("an early bind end greets at once with its UUID text; a text identity is the peer's identity as bytes, a send by it reaches that peer", async () => {
    const server = sock({ protocol: "early", identity: ID });
    await server.bind("127.0.0.1", 0);
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    // Greets before the peer has sent anything, as a Python early bind end does.
    const [greeting] = await raw.waitFrames(1);
    expect(greeting!.toString("latin1")).toBe(ID_TEXT);
    raw.write(Buffer.concat([encodeFrame(Buffer.from("worker-7")), encodeFrame(Buffer.from("hello"))]));
    const [from, m] = await server.recvIdentity();
    expect(from.toString()).toBe("worker-7");
    expect(m.toString()).toBe("hello");
    await server.send("to-worker", { identity: from });
    await waitFor(() => raw.frames.some((f) => f.toString() === "to-worker"), 5000, "the message by identity");
    // After the handshake it is the legacy wire: heartbeats are the legacy payload.
    raw.write(encodeFrame(legacy.HEARTBEAT));
    raw.write(encodeFrame(Buffer.from("after-heartbeat")));
    expect((await server.recv()).toString()).toBe("after-heartbeat");
  });

  it("an early connect end sends its UUID text at once and takes the bind end's text identity", async () => {
    const listener = await rawServer();
    track(() => listener.close());
    const client = sock({ protocol: "early", identity: ID });
    const up = once(client, "peerConnected");
    await client.connect("127.0.0.1", listener.port);
    const raw = await listener.next();
    const [greeting] = await raw.waitFrames(1);
    expect(greeting!.toString("latin1")).toBe(ID_TEXT);
    const peerText = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    raw.write(encodeFrame(Buffer.from(peerText)));
    const [info] = await up;
    expect(info.identity.toString("hex")).toBe(peerText.replace(/-/g, ""));
    expect(info.protocol).toBe("early");
  });

  it("an identity frame that is not valid UTF-8 closes that connection with ERR_AIOMSG_BAD_HELLO", async () => {
    const server = sock({ protocol: "early" });
    await server.bind("127.0.0.1", 0);
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await RawPeer.connect(server.port!);
    track(() => raw.destroy());
    raw.write(Buffer.concat([encodeFrame(Buffer.from([0xff, 0xfe, 0x41])), encodeFrame(Buffer.from("smuggled"))]));
    await raw.waitClosed();
    expect(errors.map((e) => e.code)).toEqual(["ERR_AIOMSG_BAD_HELLO"]);
    expect(server.peerCount).toBe(0);
  });
});

describe("auto bind end: the generation from the first frame", () => {
  const cases: Array<[string, Buffer, "v1" | "legacy" | "early", (own: Buffer) => Buffer, string]> = [
    ["a v1 HELLO", v1.hello(ID), "v1", (own) => v1.hello(own), ID.toString("hex")],
    ["a 16-byte binary identity", Buffer.alloc(16, 0xab), "legacy", (own) => own, "ab".repeat(16)],
    ["a UUID text identity", Buffer.from(ID_TEXT), "early", (own) => early.hello(own), ID.toString("hex")],
    ["a custom text identity", Buffer.from("worker-7"), "early", (own) => early.hello(own), Buffer.from("worker-7").toString("hex")],
    ["a 17-byte identity that is not UTF-8", Buffer.alloc(17, 0xfe), "legacy", (own) => own, "fe".repeat(17)],
  ];
  for (const [what, first, dialect, greeting, idHex] of cases) {
    it(`${what} → ${dialect}: greeted in ${dialect}, the peer known as ${idHex.length / 2} bytes`, async () => {
      const server = sock({ protocol: "auto" });
      await server.bind("127.0.0.1", 0);
      const up = once(server, "peerConnected");
      const raw = await RawPeer.connect(server.port!);
      track(() => raw.destroy());
      raw.write(encodeFrame(first));
      const [info] = await up;
      expect(info.protocol).toBe(dialect);
      expect(info.identity.toString("hex")).toBe(idHex);
      const [g] = await raw.waitFrames(1);
      expect(g!.equals(greeting(server.identity))).toBe(true);
    });
  }

  for (const [what, first, code] of [
    ["an empty first frame", Buffer.alloc(0), "ERR_AIOMSG_UNKNOWN_DIALECT"],
    ["a 5-byte frame starting 0x01 (a cut HELLO)", Buffer.from([1, 1, 0xaa, 0xbb, 0xcc]), "ERR_AIOMSG_BAD_HELLO"],
  ] as const) {
    it(`${what} closes with ${code} before any greeting`, async () => {
      const server = sock({ protocol: "auto" });
      await server.bind("127.0.0.1", 0);
      const errors: AiomsgError[] = [];
      server.on("error", (e) => errors.push(e));
      const raw = await RawPeer.connect(server.port!);
      track(() => raw.destroy());
      raw.write(encodeFrame(first));
      await raw.waitClosed();
      expect(errors.map((e) => e.code)).toEqual([code]);
      expect(raw.frames).toEqual([]);
    });
  }

  it("serves v1, legacy and early TS peers on one port at once", async () => {
    const server = sock({ protocol: "auto" });
    await server.bind("127.0.0.1", 0);
    const peers = await Promise.all((["v1", "legacy", "early"] as const).map((protocol) => connected(server, { protocol, identity: randomBytes(16) })));
    await waitFor(() => server.peerCount === 3, 5000, "three peers");
    expect(server.stats().peers.map((p) => p.protocol).sort()).toEqual(["early", "legacy", "v1"]);
    for (const p of peers) {
      await server.send(`to-${p.identity.toString("hex")}`, { identity: p.identity });
      expect((await p.recv()).toString()).toBe(`to-${p.identity.toString("hex")}`);
    }
  });
});

describe("auto connect end against an early bind end", () => {
  it("answers a text greeting with its UUID text", async () => {
    const listener = await rawServer();
    track(() => listener.close());
    const client = sock({ protocol: "auto", identity: ID });
    const up = once(client, "peerConnected");
    await client.connect("127.0.0.1", listener.port);
    const raw = await listener.next();
    raw.write(encodeFrame(Buffer.from("early-bind")));
    const [info] = await up;
    expect(info.protocol).toBe("early");
    expect(info.identity.toString()).toBe("early-bind");
    await waitFor(() => raw.frames.some((f) => f.toString("latin1") === ID_TEXT), 5000, "the UUID text greeting");
  });
});
