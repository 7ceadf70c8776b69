/** protocol: "legacy" and "auto", TS<->TS and against raw legacy bytes. */
import { afterEach, describe, expect, it } from "vitest";
import { once } from "node:events";
import { AiomsgError, Socket, type SocketOptions } from "../src/index.js";
import { RawPeer, cleanupRegistry, encodeFrameHex, rawServer, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

async function connect(server: Socket, opts: SocketOptions): Promise<Socket> {
  const s = sock(opts);
  const up = once(s, "peerConnected");
  await s.connect("127.0.0.1", server.port!);
  await up;
  return s;
}

describe("legacy wire, TS<->TS", () => {
  it("delivers both ways, at-most-once and at-least-once", async () => {
    const server = sock({ protocol: "legacy" });
    await server.bind("127.0.0.1", 0);
    const client = await connect(server, { protocol: "legacy", deliveryGuarantee: "at-least-once" });
    for (let i = 0; i < 50; i++) await client.send(`L${i}`);
    for (let i = 0; i < 50; i++) expect((await server.recv()).toString()).toBe(`L${i}`);
    await server.send("back");
    expect((await client.recv()).toString()).toBe("back");
    const dropped: unknown[] = [];
    client.on("dropped", (d) => dropped.push(d));
    await client.close({ linger: 3000 });
    expect(dropped).toEqual([]);
  });

  it("swallows an application payload equal to the heartbeat, as 2019 peers do", async () => {
    const server = sock({ protocol: "legacy" });
    await server.bind("127.0.0.1", 0);
    const client = await connect(server, { protocol: "legacy" });
    await client.send("aiomsg-heartbeat");
    await client.send("after");
    expect((await server.recv()).toString()).toBe("after");
  });
});

describe("auto on a bind socket", () => {
  it("answers each peer in its own dialect; publish, receive and identity routing span both", async () => {
    const server = sock({ protocol: "auto", sendMode: "publish" });
    await server.bind("127.0.0.1", 0);
    const protocols: string[] = [];
    server.on("peerConnected", (p) => protocols.push(p.protocol));
    const modern = await connect(server, { protocol: "v1" });
    const old = await connect(server, { protocol: "legacy" });
    await waitFor(() => server.peerCount === 2);
    expect(protocols.sort()).toEqual(["legacy", "v1"]);
    await server.send("to-all");
    expect((await modern.recv()).toString()).toBe("to-all");
    expect((await old.recv()).toString()).toBe("to-all");
    await old.send("from-2019");
    await modern.send("from-2026");
    const got = new Map<string, string>();
    for (let i = 0; i < 2; i++) {
      const [id, m] = await server.recvIdentity();
      got.set(id.toString("hex"), m.toString());
    }
    expect(got.get(old.identity.toString("hex"))).toBe("from-2019");
    expect(got.get(modern.identity.toString("hex"))).toBe("from-2026");
    await server.send("just-old", { identity: old.identity });
    expect((await old.recv()).toString()).toBe("just-old");
  });

  it("round-robin alternates across dialects; at-least-once acknowledgements use each peer's dialect", async () => {
    const server = sock({ protocol: "auto", deliveryGuarantee: "at-least-once" });
    await server.bind("127.0.0.1", 0);
    const a = await connect(server, { protocol: "v1" });
    const b = await connect(server, { protocol: "legacy" });
    await waitFor(() => server.peerCount === 2);
    for (let i = 0; i < 10; i++) await server.send(`r${i}`);
    const got = await Promise.all(
      [a, b].map(async (s) => {
        const out: string[] = [];
        for (let i = 0; i < 5; i++) out.push((await s.recv()).toString());
        return out;
      }),
    );
    expect(got.flat().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`).sort());
    const dropped: unknown[] = [];
    server.on("dropped", (d) => dropped.push(d));
    await server.close({ linger: 3000 });
    expect(dropped).toEqual([]);
  });

  it("refuses an empty first frame (no generation sends one) with ERR_AIOMSG_UNKNOWN_DIALECT", async () => {
    const server = sock({ protocol: "auto" });
    await server.bind("127.0.0.1", 0);
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const raw = await RawPeer.connect(server.port!);
    raw.write("00000000" + encodeFrameHex("0368656c6c6f"));
    await raw.waitClosed();
    expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_UNKNOWN_DIALECT");
  });
});

describe("auto on a connect socket", () => {
  it("answers a legacy greeting in legacy", async () => {
    const server = await rawServer();
    track(() => server.close());
    const client = sock({ protocol: "auto" });
    await client.connect("127.0.0.1", server.port);
    const raw = await server.next();
    raw.write(encodeFrameHex("aa".repeat(16)));
    const [info] = await once(client, "peerConnected");
    expect(info.protocol).toBe("legacy");
    const frames = await raw.waitFrames(1);
    expect(frames[0]!.equals(client.identity)).toBe(true);
  });

  it("speaks v1 first after autoDetectDelay when the peer stays silent", async () => {
    const server = sock({ protocol: "auto" });
    await server.bind("127.0.0.1", 0);
    const client = sock({ protocol: "auto", autoDetectDelay: 50 });
    const up = once(client, "peerConnected");
    await client.connect("127.0.0.1", server.port!);
    const [info] = await up;
    expect(info.protocol).toBe("v1");
  });
});
