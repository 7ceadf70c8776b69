import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { Socket } from "../src/index.js";
import { makeCerts, type TestCerts } from "./certs.js";
import { waitFor } from "./helpers.js";

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("TLS through node:tls on both ends", () => {
  it("exchanges messages both ways over TLS, certificate verified", async () => {
    const server = new Socket();
    cleanups.push(() => server.close({ linger: 0 }));
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
    const client = new Socket({ deliveryGuarantee: "at-least-once" });
    cleanups.push(() => client.close({ linger: 0 }));
    const up = once(client, "peerConnected");
    await client.connect("127.0.0.1", server.port!, { tls: { ca: certs.ca, servername: "localhost" } });
    await up;
    for (let i = 0; i < 10; i++) await client.send(`t${i}`);
    const got: string[] = [];
    for (let i = 0; i < 10; i++) got.push((await server.recv()).toString());
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}`));
    await server.send("reply");
    expect((await client.recv()).toString()).toBe("reply");
  });

  it("does not connect to a server whose certificate it cannot verify", async () => {
    const server = new Socket();
    cleanups.push(() => server.close({ linger: 0 }));
    const tlsErrors: string[] = [];
    server.on("error", (e) => tlsErrors.push(e.message));
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
    const client = new Socket();
    cleanups.push(() => client.close({ linger: 0 }));
    let connected = false;
    client.on("peerConnected", () => (connected = true));
    const clientErrors: string[] = [];
    client.on("error", (e) => clientErrors.push(`${e.code}: ${e.message}`));
    await client.connect("127.0.0.1", server.port!, { tls: {}, connectTimeout: 500 }); // no CA given
    // The client keeps retrying; the server sees each TLS handshake fail.
    await waitFor(() => tlsErrors.length >= 2, 5000, "two refused TLS handshakes");
    expect(connected).toBe(false);
    expect(server.peerCount).toBe(0);
    // The connect end says why, to an attached error listener.
    await waitFor(() => clientErrors.length > 0, 5000, "a connect error on the client");
    expect(clientErrors[0]).toMatch(/^ERR_AIOMSG_CONNECT_FAILED: .*(certificate|self.signed)/i);
  });
});
