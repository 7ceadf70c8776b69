/**
 * The admission gate (admit, admissionToken, admissionTimeout) between TS
 * sockets and against a raw peer: a token read as the peer's first message
 * and never delivered, decisions from the handshake (identity, TLS
 * certificate), refusal as ERR_AIOMSG_NOT_ADMITTED with nothing buffered
 * ever written to the refused peer, messages sent before admission held and
 * delivered in order, re-authentication after a reconnect, and the timeout.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AiomsgError, Socket, type AdmissionRequest, type SocketOptions } from "../src/index.js";
import { CC, RawPeer, encodeFrameHex, waitFor } from "./helpers.js";
import { makeCerts } from "./certs.js";

const sockets: Socket[] = [];
function sock(o: SocketOptions = {}): Socket {
  const s = new Socket(o);
  sockets.push(s);
  return s;
}
const raws: RawPeer[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await Promise.all(sockets.splice(0).map((s) => s.close({ linger: 0 })));
});

/** An admit hook that wants `token` as the peer's first message. */
const tokenGate = (token: string, seen: string[] = []) => async (peer: AdmissionRequest): Promise<boolean> => {
  const first = (await peer.readMessage()).toString();
  seen.push(first);
  return first === token;
};

describe("admission gate", () => {
  it("a connect end's admissionToken is read by the bind end's hook, never delivered; what followed it is delivered in order", async () => {
    const seen: string[] = [];
    const server = sock({ admit: tokenGate("s3cret", seen) });
    await server.bind("127.0.0.1", 0);
    const client = sock({ admissionToken: "s3cret" });
    // Sent before any connection: buffered, and written after the token.
    await client.send("one");
    await client.send("two");
    await client.connect("127.0.0.1", server.port!);
    expect((await server.recv()).toString()).toBe("one");
    expect((await server.recv()).toString()).toBe("two");
    expect(seen).toEqual(["s3cret"]);
    expect(server.peerCount).toBe(1);
  });

  it("a wrong token is refused with ERR_AIOMSG_NOT_ADMITTED; messages buffered on the bind end never reach the refused peer, and go to the next admitted one", async () => {
    const errors: AiomsgError[] = [];
    // A fixed identity without the byte "a": the search for "a" below must not find it in the HELLO.
    const server = sock({ admit: tokenGate("right"), identity: Buffer.alloc(16, 0x11) });
    server.on("error", (e) => errors.push(e));
    await server.bind("127.0.0.1", 0);
    // Buffered while no peer is admitted.
    for (const m of ["a", "b", "c"]) await server.send(m);
    const connected: string[] = [];
    server.on("peerConnected", (p) => connected.push(p.identity.toString("hex")));

    // A raw v1 peer: HELLO, then a wrong token, then it listens.
    const raw = await RawPeer.connect(server.port!);
    raws.push(raw);
    raw.write(encodeFrameHex("0101" + CC.toString("hex")));
    raw.write(encodeFrameHex("03" + Buffer.from("wrong").toString("hex")));
    await raw.waitClosed();
    // All it ever got: the bind end's HELLO (and the 00 00 00 a v1 bind end answers a first byte with).
    expect(raw.frames.map((f) => f[0])).toEqual([0x01]);
    expect(raw.allBytes().includes(Buffer.from("a"))).toBe(false);
    expect(errors.map((e) => e.code)).toContain("ERR_AIOMSG_NOT_ADMITTED");
    expect(connected).toEqual([]);
    expect(server.stats().queuedMessages).toBe(3);

    const good = sock({ admissionToken: "right" });
    await good.connect("127.0.0.1", server.port!);
    const got = [await good.recv(), await good.recv(), await good.recv()].map((b) => b.toString());
    expect(got).toEqual(["a", "b", "c"]);
  });

  it("a TS connect end refused for its token backs off (ERR_AIOMSG_NOT_ADMITTED, waits of 200, 400 ms) and receives nothing", async () => {
    const server = sock({ admit: tokenGate("right") });
    await server.bind("127.0.0.1", 0);
    await server.send("buffered");
    const bad = sock({ admissionToken: "wrong" });
    const errors: AiomsgError[] = [];
    const delays: number[] = [];
    bad.on("error", (e) => errors.push(e));
    bad.on("reconnecting", (r) => delays.push(r.delay));
    await bad.connect("127.0.0.1", server.port!);
    await waitFor(() => delays.length >= 2, 5000, "two redials");
    expect(delays.slice(0, 2)).toEqual([200, 400]);
    expect(errors[0]!.code).toBe("ERR_AIOMSG_NOT_ADMITTED");
    expect(bad.stats().messagesIn).toBe(0);
    expect(server.stats().queuedMessages).toBe(1);
  });

  it("decides from the handshake alone: an identity not on the list is refused, one on it admitted", async () => {
    const allowed = Buffer.alloc(16, 0x11);
    const server = sock({ admit: (peer) => peer.identity.equals(allowed) });
    await server.bind("127.0.0.1", 0);
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    const stranger = sock({ identity: Buffer.alloc(16, 0x22), reconnectionDelay: 60_000 });
    await stranger.connect("127.0.0.1", server.port!);
    await waitFor(() => errors.some((e) => e.code === "ERR_AIOMSG_NOT_ADMITTED"), 5000, "refusal");
    expect(errors.find((e) => e.code === "ERR_AIOMSG_NOT_ADMITTED")!.message).toMatch(/refused by the admit hook/);
    const friend = sock({ identity: allowed });
    await friend.connect("127.0.0.1", server.port!);
    await friend.send("hi");
    expect((await server.recv()).toString()).toBe("hi");
    expect(server.peerIdentities).toEqual([allowed]);
  });

  it("decides from the TLS client certificate (mutual TLS)", async () => {
    const certs = makeCerts("localhost");
    const subjects: unknown[] = [];
    const server = sock({
      admit: (peer) => {
        subjects.push(peer.certificate?.subject.CN);
        return peer.authorized && peer.certificate?.subject.CN === "localhost";
      },
    });
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key, ca: certs.ca, requestCert: true, rejectUnauthorized: true } });
    const client = sock();
    await client.connect("127.0.0.1", server.port!, { tls: { ca: certs.ca, cert: certs.cert, key: certs.key, servername: "localhost" } });
    await client.send("over tls");
    expect((await server.recv()).toString()).toBe("over tls");
    expect(subjects).toEqual(["localhost"]);
  });

  it("re-authenticates after a reconnect: the token goes first on every connection", async () => {
    const seen: string[] = [];
    let server = sock({ admit: tokenGate("t", seen) });
    await server.bind("127.0.0.1", 0);
    const port = server.port!;
    const client = sock({ admissionToken: () => "t", reconnectionDelay: 20 });
    await client.connect("127.0.0.1", port);
    await client.send("before");
    expect((await server.recv()).toString()).toBe("before");
    await server.close({ linger: 0 });
    server = sock({ admit: tokenGate("t", seen) });
    await server.bind("127.0.0.1", port);
    await waitFor(() => server.peerCount === 1, 10_000, "reconnected and admitted");
    await client.send("after");
    expect((await server.recv()).toString()).toBe("after");
    expect(seen).toEqual(["t", "t"]);
  });

  it("a peer that never sends its token is refused at admissionTimeout", async () => {
    const server = sock({ admit: tokenGate("t"), admissionTimeout: 200 });
    const errors: AiomsgError[] = [];
    server.on("error", (e) => errors.push(e));
    await server.bind("127.0.0.1", 0);
    const silent = sock({ reconnectionDelay: 60_000 });
    await silent.connect("127.0.0.1", server.port!);
    await waitFor(() => errors.some((e) => e.code === "ERR_AIOMSG_NOT_ADMITTED"), 5000, "timeout refusal");
    expect(errors.find((e) => e.code === "ERR_AIOMSG_NOT_ADMITTED")!.message).toMatch(/not admitted within admissionTimeout \(200 ms\)/);
    expect(server.peerCount).toBe(0);
  });

  it("an at-least-once token is acknowledged, and so are messages held until admission", async () => {
    const server = sock({ deliveryGuarantee: "at-least-once", admit: tokenGate("t") });
    await server.bind("127.0.0.1", 0);
    const client = sock({ deliveryGuarantee: "at-least-once", admissionToken: "t", resendInterval: 60_000 });
    await client.send("held");
    await client.connect("127.0.0.1", server.port!);
    expect((await server.recv()).toString()).toBe("held");
    await waitFor(() => client.stats().unacknowledged === 0, 5000, "acknowledged");
  });

  it("rejects bad options at construction", () => {
    expect(() => new Socket({ admit: "yes" as unknown as () => boolean })).toThrow(/admit must be a function/);
    expect(() => new Socket({ admissionToken: 5 as unknown as string })).toThrow(/admissionToken must be/);
  });
});

