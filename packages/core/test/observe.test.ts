/**
 * What operators see: diagnostics_channel messages (aiomsg:*), stats(),
 * connecting/reconnecting events, errors that name a peer that is not
 * aiomsg, and options that contradict each other failing at construction.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import * as tls from "node:tls";
import { once } from "node:events";
import diagnostics from "node:diagnostics_channel";
import { Socket, UsageError, type SocketOptions } from "../src/index.js";
import { makeCerts } from "./certs.js";
import { cleanupRegistry, waitFor } from "./helpers.js";

const { track, sock } = cleanupRegistry(afterEach);

async function bound(opts: SocketOptions = {}): Promise<Socket> {
  const s = sock(opts);
  await s.bind("127.0.0.1", 0);
  return s;
}

/** Subscribe to aiomsg:<name> channels for the test, recording what `socket` publishes. */
function record(socket: () => Socket | undefined, ...names: string[]): Record<string, Array<Record<string, unknown>>> {
  const seen: Record<string, Array<Record<string, unknown>>> = {};
  for (const name of names) {
    seen[name] = [];
    const fn = (m: unknown): void => {
      const msg = m as Record<string, unknown>;
      if (msg.socket === socket()) seen[name]!.push(msg);
    };
    diagnostics.subscribe(`aiomsg:${name}`, fn);
    track(() => diagnostics.unsubscribe(`aiomsg:${name}`, fn));
  }
  return seen;
}

describe("diagnostics_channel", () => {
  it("publishes dial, connected, send, receive, drop and closed with the socket and what happened", async () => {
    let client: Socket | undefined;
    let server: Socket | undefined;
    const c = record(() => client, "dial", "connected", "send", "closed", "drop");
    const s = record(() => server, "receive", "connected");
    server = await bound();
    client = sock({ reconnectionDelay: 20 });
    await client.connect("127.0.0.1", server.port!);
    await waitFor(() => c.connected!.length === 1 && s.connected!.length === 1);
    await client.send("hello");
    expect((await server.recv()).toString()).toBe("hello");
    await client.send("nobody", { identity: Buffer.alloc(16, 9) });
    expect(c.dial![0]).toMatchObject({ target: `127.0.0.1:${server.port}`, attempt: 1, delay: 0 });
    expect(c.send!.map((m) => m.bytes)).toEqual([5, 6]);
    expect(s.receive![0]).toMatchObject({ bytes: 5 });
    expect((s.receive![0]!.identity as Buffer).equals(client.identity)).toBe(true);
    expect(c.drop![0]).toMatchObject({ code: "ERR_AIOMSG_NOT_CONNECTED", bytes: 6 });
    await server.close();
    await waitFor(() => c.closed!.length === 1 && c.dial!.length >= 2);
    expect(c.dial![1]).toMatchObject({ attempt: 2, delay: 20 });
  });

  it("publishes refused for a duplicate identity, on the bind end and on the refused connect end", async () => {
    let server: Socket | undefined;
    let twin: Socket | undefined;
    const s = record(() => server, "refused");
    const t = record(() => twin, "refused");
    server = await bound();
    const identity = Buffer.alloc(16, 0x42);
    const first = sock({ identity });
    await first.connect("127.0.0.1", server.port!);
    await once(first, "peerConnected");
    twin = sock({ identity });
    await twin.connect("127.0.0.1", server.port!);
    await waitFor(() => s.refused!.length >= 1 && t.refused!.length >= 1);
    expect((s.refused![0]!.error as { code: string }).code).toBe("ERR_AIOMSG_DUPLICATE_IDENTITY");
    expect((t.refused![0]!.error as { code: string }).code).toBe("ERR_AIOMSG_REFUSED");
  });
});

describe("stats() and connect events", () => {
  it("counts messages and bytes each way, per peer and in total, drops by code, and reconnects", async () => {
    const server = await bound();
    const client = sock({ reconnectionDelay: 20 });
    const events: string[] = [];
    client.on("connecting", (e) => events.push(`connecting ${e.attempt}`));
    client.on("reconnecting", (e) => events.push(`reconnecting ${e.attempt} after ${e.delay}`));
    await client.connect("127.0.0.1", server.port!);
    await once(client, "peerConnected");
    for (let i = 0; i < 10; i++) await client.send("0123456789");
    for (let i = 0; i < 10; i++) await server.recv();
    await server.send("abc", { identity: client.identity });
    await client.recv();
    await client.send("x", { identity: Buffer.alloc(16, 1) });
    const cs = client.stats();
    expect(cs).toMatchObject({ messagesOut: 10, bytesOut: 100, messagesIn: 1, bytesIn: 3, dropped: { ERR_AIOMSG_NOT_CONNECTED: 1 }, reconnects: 0 });
    expect(cs.peers).toHaveLength(1);
    expect(cs.peers[0]).toMatchObject({ identity: server.identity.toString("hex"), direction: "connect", transport: "tcp", protocol: "v1", messagesOut: 10 });
    const ss = server.stats();
    expect(ss).toMatchObject({ messagesIn: 10, bytesIn: 100, messagesOut: 1, bytesOut: 3 });
    // The server goes and comes back on the same port: one reconnect, and the totals survive it.
    const port = server.port!;
    await server.close();
    const back = sock();
    await back.bind("127.0.0.1", port);
    await waitFor(() => client.stats().reconnects === 1, 5000, "a reconnect");
    expect(client.stats()).toMatchObject({ messagesOut: 10, bytesOut: 100 });
    expect(events[0]).toBe("connecting 1");
    expect(events.some((e) => /^reconnecting 2 after 20$/.test(e))).toBe(true);
  });

  it("counts resends of unacknowledged at-least-once messages", async () => {
    // A raw peer that reads and never acknowledges.
    const server = net.createServer((s) => {
      s.on("error", () => undefined);
      s.write(Buffer.concat([Buffer.from([0, 0, 0, 18, 1, 1]), Buffer.alloc(16, 7)]));
      s.resume();
    });
    track(() => server.close());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const client = sock({ deliveryGuarantee: "at-least-once", resendInterval: 50, maxResends: 2 });
    await client.connect("127.0.0.1", (server.address() as net.AddressInfo).port);
    await once(client, "peerConnected");
    await client.send("again and again");
    await waitFor(() => (client.stats().dropped.ERR_AIOMSG_RETRIES_EXHAUSTED ?? 0) === 1, 5000, "the message given up");
    expect(client.stats().resends).toBe(2);
    expect(client.stats().unacknowledged).toBe(0);
  });
});

describe("peers that are not aiomsg are named", () => {
  it("an HTTP server: ERR_AIOMSG_NOT_AIOMSG saying HTTP, not a frame of 1213486160 bytes", async () => {
    const http = net.createServer((s) => {
      s.on("error", () => undefined);
      s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
    });
    track(() => http.close());
    http.listen(0, "127.0.0.1");
    await once(http, "listening");
    const client = sock({ reconnectionDelay: 1000 });
    const errors: Array<{ code: string; message: string }> = [];
    client.on("error", (e) => errors.push(e));
    await client.connect("127.0.0.1", (http.address() as net.AddressInfo).port);
    await waitFor(() => errors.length > 0);
    expect(errors[0]!.code).toBe("ERR_AIOMSG_NOT_AIOMSG");
    expect(errors[0]!.message).toMatch(/HTTP/);
  });

  it("TLS to a plain port: the bind end names a TLS ClientHello", async () => {
    const server = await bound();
    const errors: Array<{ code: string; message: string }> = [];
    server.on("error", (e) => errors.push(e));
    const t = tls.connect({ host: "127.0.0.1", port: server.port!, rejectUnauthorized: false });
    t.on("error", () => undefined);
    track(() => t.destroy());
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: "ERR_AIOMSG_NOT_AIOMSG" });
    expect(errors[0]!.message).toMatch(/TLS/);
  });

  it("plain aiomsg to a TLS port: the connect end's error names TLS", async () => {
    const certs = makeCerts();
    const server = sock();
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
    const client = sock({ reconnectionDelay: 1000 });
    const errors: Array<{ code: string; message: string }> = [];
    client.on("error", (e) => errors.push(e));
    await client.connect("127.0.0.1", server.port!);
    await waitFor(() => errors.length > 0);
    // Node's TLS server hangs up on a plain HELLO without a word: the refusal names TLS among its causes.
    expect(["ERR_AIOMSG_NOT_AIOMSG", "ERR_AIOMSG_REFUSED"]).toContain(errors[0]!.code);
    expect(errors[0]!.message).toMatch(/TLS/);
  });
});

describe("options that contradict each other fail at construction", () => {
  const bad: Array<[string, SocketOptions]> = [
    ["an unknown option (a misspelt name)", { heartbeatIntervall: 100 } as unknown as SocketOptions],
    ["heartbeatInterval at or above heartbeatTimeout", { heartbeatInterval: 2000, heartbeatTimeout: 1000 }],
    ["a negative reconnectionDelay", { reconnectionDelay: -1 }],
  ];
  for (const [what, opts] of bad) {
    it(`${what}: UsageError ERR_AIOMSG_INVALID_OPTION`, () => {
      let err: unknown;
      try {
        new Socket(opts);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect(err).toMatchObject({ code: "ERR_AIOMSG_INVALID_OPTION" });
    });
  }

  it("heartbeatTimeout alone below the default interval takes a third of it as the interval", () => {
    expect(() => new Socket({ heartbeatTimeout: 900 })).not.toThrow();
  });
});
