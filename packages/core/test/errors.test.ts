/**
 * Errors at the call: the send-side size limit (maxSendSize), misuse of
 * connect()/bind() (ports, hosts, URLs) thrown as ERR_AIOMSG_INVALID_OPTION,
 * and a bind that cannot listen rejected as ERR_AIOMSG_BIND_FAILED with the
 * system error as its cause.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as http from "node:http";
import * as net from "node:net";
import { once } from "node:events";
import { AiomsgError, Socket, UsageError } from "../src/index.js";
import { waitFor } from "./helpers.js";
import { makeCerts } from "./certs.js";

const sockets: Socket[] = [];
function sock(o: ConstructorParameters<typeof Socket>[0] = {}): Socket {
  const s = new Socket(o);
  sockets.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close({ linger: 0 })));
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AiomsgError);
    return (err as AiomsgError).code;
  }
  return undefined;
}

describe("maxSendSize", () => {
  it("rejects a message over it at the call with ERR_AIOMSG_FRAME_TOO_LARGE, sends nothing, and sends one at the limit", async () => {
    const server = sock({ maxFrameSize: 1024 });
    await server.bind("127.0.0.1", 0);
    const client = sock({ maxSendSize: 100 });
    await client.connect("127.0.0.1", server.port!);
    await waitFor(() => server.peerCount === 1, 5000, "peer");
    expect(await codeOf(client.send(Buffer.alloc(101)))).toBe("ERR_AIOMSG_FRAME_TOO_LARGE");
    // Strings count as their UTF-8 bytes: 34 three-byte characters are 102 bytes.
    expect(await codeOf(client.send("€".repeat(34)))).toBe("ERR_AIOMSG_FRAME_TOO_LARGE");
    expect(await codeOf(client.sendJson({ pad: "x".repeat(200) }))).toBe("ERR_AIOMSG_FRAME_TOO_LARGE");
    await client.send(Buffer.alloc(100, 7));
    const got = await server.recv();
    expect(got.length).toBe(100);
    expect(client.stats().messagesOut).toBe(1);
  });

  it("is refused when not a positive number", () => {
    expect(() => new Socket({ maxSendSize: 0 })).toThrow(UsageError);
    expect(() => new Socket({ maxSendSize: -5 })).toThrow(/maxSendSize/);
  });
});

describe("misuse throws at the call", () => {
  it.each([
    ["a port above 65535", () => new Socket().connect("127.0.0.1", 70000), /port must be an integer from 1 to 65535, got 70000/],
    ["port 0 on a connect end", () => new Socket().connect("127.0.0.1", 0), /from 1 to 65535/],
    ["a negative port", () => new Socket().connect("127.0.0.1", -1), /from 1 to 65535/],
    ["a fractional port", () => new Socket().connect("127.0.0.1", 25000.5), /integer/],
    ["a port as a string", () => new Socket().connect("127.0.0.1", "25000" as unknown as number), /got string/],
    ["host:port as the host", () => new Socket().connect("127.0.0.1:25000", 25000), /not an IP address or a host name \(give the port/],
    ["a host with a space", () => new Socket().connect("my host", 25000), /not an IP address or a host name/],
    ["an empty host", () => new Socket().connect("", 25000), /not an IP address or a host name/],
    ["a URL port above 65535", () => new Socket().connect("tcp://127.0.0.1:70000"), /not a URL/],
    ["a URL without a host", () => new Socket().connect("ws://:8080/x"), /not a URL|host is missing/],
    ["a tcp:// URL with a path", () => new Socket().connect("tcp://127.0.0.1:25000/x"), /has no path/],
    ["an unknown scheme", () => new Socket().connect("http://127.0.0.1:80"), /unsupported scheme/],
    ["a bind port above 65535", () => new Socket().bind("127.0.0.1", 65536), /from 0 to 65535, got 65536/],
    ["a malformed bind host", () => new Socket().bind("127.0.0.1:0", 0), /not an IP address or a host name/],
  ])("%s: ERR_AIOMSG_INVALID_OPTION", async (_what, call, message) => {
    let caught: unknown;
    try {
      await call();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).code).toBe("ERR_AIOMSG_INVALID_OPTION");
    expect((caught as Error).message).toMatch(message);
  });

  it("accepts well-formed hosts: IPv4, IPv6 with and without brackets, names, URLs", async () => {
    const s = sock({ reconnectionDelay: 60_000 });
    await s.connect("127.0.0.1", 1);
    await s.connect("::1", 1);
    await s.connect("[::1]", 1);
    await s.connect("svc-1.internal.example", 1);
    await s.connect("tcp://[::1]:1");
    await s.connect("ws://localhost:1/path?x=1");
  });

  it("a name that does not resolve is a network condition: connect() resolves, `error` says ERR_AIOMSG_CONNECT_FAILED", async () => {
    const s = sock({ reconnectionDelay: 60_000 });
    const errors: AiomsgError[] = [];
    s.on("error", (e) => errors.push(e));
    await s.connect("no-such-host.invalid", 25000);
    await waitFor(() => errors.length > 0, 10_000, "connect failure");
    expect(errors[0]!.code).toBe("ERR_AIOMSG_CONNECT_FAILED");
    expect((errors[0]!.cause as NodeJS.ErrnoException).code).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });
});

describe("bind failures", () => {
  it("a port in use rejects with ERR_AIOMSG_BIND_FAILED, the system error as cause, and no other error event", async () => {
    const holder = net.createServer();
    holder.listen(0, "127.0.0.1");
    await once(holder, "listening");
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const s = sock();
      const events: AiomsgError[] = [];
      s.on("error", (e) => events.push(e));
      let caught: unknown;
      try {
        await s.bind("127.0.0.1", port);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AiomsgError);
      const e = caught as AiomsgError;
      expect(e.code).toBe("ERR_AIOMSG_BIND_FAILED");
      expect(e.message).toContain(`127.0.0.1:${port}`);
      expect(e.message).toContain("EADDRINUSE");
      expect((e.cause as NodeJS.ErrnoException).code).toBe("EADDRINUSE");
      // The failure is reported once, by the rejection.
      await new Promise((r) => setImmediate(r));
      expect(events).toEqual([]);
      // The socket still works: another port binds.
      await s.bind("127.0.0.1", 0);
      expect(s.port).toBeGreaterThan(0);
    } finally {
      holder.close();
    }
  });

  it("an address this machine does not have rejects with ERR_AIOMSG_BIND_FAILED (EADDRNOTAVAIL)", async () => {
    const s = sock();
    const e = await s.bind("192.0.2.1", 0).then(
      () => undefined,
      (err: AiomsgError) => err,
    );
    expect(e?.code).toBe("ERR_AIOMSG_BIND_FAILED");
    expect((e?.cause as NodeJS.ErrnoException).code).toBe("EADDRNOTAVAIL");
  });
});

describe("a peer that is not aiomsg: named, and redialled with growing waits", () => {
  const cases: Array<[string, () => net.Server, RegExp]> = [
    ["a real HTTP server", () => http.createServer((_req, res) => res.end("hello")), /speaks HTTP/],
    [
      "a server that opens with another protocol's banner",
      () => net.createServer((s) => {
        s.on("error", () => undefined);
        s.write("SSH-2.0-OpenSSH_9.6\r\n");
      }),
      /first bytes \("SSH-\.\.\."\) announce a frame of \d+ bytes, longer than any aiomsg greeting/,
    ],
    ["a port that accepts and stays silent (judged after this end's HELLO)", () => net.createServer((s) => void s.on("error", () => undefined)), /sent nothing in 300 ms, though this end greeted/],
  ];
  it.each(cases)("%s: ERR_AIOMSG_NOT_AIOMSG, then waits of 200, 400, 800 ms", async (_what, make, message) => {
    const server = make();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const s = sock({ handshakeTimeout: 300 });
      const errors: AiomsgError[] = [];
      const delays: number[] = [];
      s.on("error", (e) => errors.push(e));
      s.on("reconnecting", (r) => delays.push(r.delay));
      await s.connect("127.0.0.1", (server.address() as net.AddressInfo).port);
      await waitFor(() => delays.length >= 3, 10_000, "three redials");
      expect(errors[0]!.code).toBe("ERR_AIOMSG_NOT_AIOMSG");
      expect(errors[0]!.message).toMatch(message);
      expect(delays.slice(0, 3)).toEqual([200, 400, 800]);
    } finally {
      if (server instanceof http.Server) server.closeAllConnections();
      server.close();
    }
  });
});

describe("a TLS port dialled without TLS", () => {
  it("is named ERR_AIOMSG_NOT_AIOMSG (a TLS handshake probe, once per streak of refusals) and redialled with growing waits", async () => {
    const certs = makeCerts();
    const server = sock();
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
    const client = sock();
    const errors: AiomsgError[] = [];
    const delays: number[] = [];
    client.on("error", (e) => errors.push(e));
    client.on("reconnecting", (r) => delays.push(r.delay));
    await client.connect("127.0.0.1", server.port!);
    await waitFor(() => delays.length >= 3, 10_000, "three redials");
    const named = errors.filter((e) => e.code === "ERR_AIOMSG_NOT_AIOMSG");
    expect(named).toHaveLength(1);
    expect(named[0]!.message).toMatch(/is a TLS port and this end connects without TLS: connect with \{ tls \}/);
    expect(delays.slice(0, 3)).toEqual([200, 400, 800]);
    expect(errors.filter((e) => e.code !== "ERR_AIOMSG_NOT_AIOMSG").every((e) => e.code === "ERR_AIOMSG_REFUSED")).toBe(true);
  });

  it("a plain aiomsg port that refuses in silence (maxPeers reached) is not called a TLS port", async () => {
    const server = sock({ maxPeers: 1 });
    server.on("error", () => undefined);
    await server.bind("127.0.0.1", 0);
    const first = sock();
    await first.connect("127.0.0.1", server.port!);
    await waitFor(() => server.peerCount === 1, 5000, "first peer");
    const second = sock();
    const errors: AiomsgError[] = [];
    const delays: number[] = [];
    second.on("error", (e) => errors.push(e));
    second.on("reconnecting", (r) => delays.push(r.delay));
    await second.connect("127.0.0.1", server.port!);
    await waitFor(() => delays.length >= 2, 10_000, "two redials");
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.map((e) => e.code).filter((c) => c !== "ERR_AIOMSG_REFUSED")).toEqual([]);
  });
});
