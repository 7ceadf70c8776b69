/**
 * Peer identities of any length from 1 byte (the legacy wire: 2019.12.3 accepts
 * 15, 17 or 36 bytes): admitted on bind and connect ends, reported by events,
 * recvIdentity() and stats(), and usable for a send by identity.
 */
import { afterEach, describe, expect, it } from "vitest";
import { once } from "node:events";
import { AiomsgError, UsageError, encodeFrame } from "../src/index.js";
import { RawPeer, cleanupRegistry, rawServer, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

describe("legacy identities of any length", () => {
  for (const n of [1, 15, 17, 36]) {
    it(`a legacy bind end admits a ${n}-byte identity, reports it, and routes a send by it to that peer`, async () => {
      const server = sock({ protocol: "legacy" });
      await server.bind("127.0.0.1", 0);
      const up = once(server, "peerConnected");
      const raw = await RawPeer.connect(server.port!);
      track(() => raw.destroy());
      const id = Buffer.alloc(n, 0x40 + n);
      raw.write(Buffer.concat([encodeFrame(id), encodeFrame(Buffer.from("hi"))]));
      const [info] = await up;
      expect(info.identity.equals(id)).toBe(true);
      const [from, payload] = await server.recvIdentity();
      expect(from.equals(id)).toBe(true);
      expect(payload.toString()).toBe("hi");
      expect(server.stats().peers.map((p) => p.identity)).toEqual([id.toString("hex")]);
      expect(server.peerIdentities.map((b) => b.toString("hex"))).toEqual([id.toString("hex")]);
      await server.send("by-identity", { identity: from });
      // Frame 0 is the bind end's identity, frame 1 the message.
      const frames = await raw.waitFrames(2);
      expect(frames[0]!.equals(server.identity)).toBe(true);
      expect(frames[1]!.toString()).toBe("by-identity");
    });
  }

  it("a legacy connect end accepts a bind end's 17-byte identity and sends to it by identity", async () => {
    const listener = await rawServer();
    track(() => listener.close());
    const client = sock({ protocol: "legacy" });
    const up = once(client, "peerConnected");
    await client.connect("127.0.0.1", listener.port);
    const raw = await listener.next();
    const id = Buffer.alloc(17, 0x99);
    raw.write(encodeFrame(id));
    const [info] = await up;
    expect(info.identity.equals(id)).toBe(true);
    await client.send("to-17", { identity: id });
    await waitFor(() => raw.frames.some((f) => f.toString() === "to-17"), 5000, "the message sent by identity");
    expect(raw.frames[0]!.equals(client.identity)).toBe(true);
  });

  it("a duplicate identity of another length is still refused (ERR_AIOMSG_DUPLICATE_IDENTITY)", async () => {
    const server = sock({ protocol: "legacy" });
    await server.bind("127.0.0.1", 0);
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const id = Buffer.from("seventeen-bytes!!");
    const first = await RawPeer.connect(server.port!);
    track(() => first.destroy());
    first.write(encodeFrame(id));
    await waitFor(() => server.peerCount === 1, 5000, "the first peer");
    const second = await RawPeer.connect(server.port!);
    track(() => second.destroy());
    second.write(encodeFrame(id));
    await second.waitClosed();
    expect(errors.map((e) => e.code)).toEqual(["ERR_AIOMSG_DUPLICATE_IDENTITY"]);
    expect(server.peerCount).toBe(1);
  });

  it("send({ identity }) takes any length from 1 byte; an empty identity is a UsageError", async () => {
    const s = sock();
    const drops: string[] = [];
    s.on("dropped", (d) => drops.push(`${d.code}:${d.identity?.length}`));
    await s.send("nobody", { identity: Buffer.alloc(17, 1) });
    expect(drops).toEqual(["ERR_AIOMSG_NOT_CONNECTED:17"]);
    await expect(s.send("x", { identity: new Uint8Array(0) })).rejects.toBeInstanceOf(UsageError);
    expect(() => sock({ identity: Buffer.alloc(17) })).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_INVALID_OPTION" }));
  });
});
