/**
 * TLS (issue 7): certificates are verified by default; mutual TLS works on
 * both ends and refuses clients without a certificate from the expected CA.
 * Certificates are made at test time with the openssl CLI.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import type * as tls from "node:tls";
import { Socket } from "../../packages/core/src/index.js";
import { Cleanup, ErrorLog, Inbox, makePki, nextEvent, type Pki } from "./helpers.js";

let pki: Pki;
const read = (p: string) => readFileSync(p);
beforeAll(async () => {
  pki = await makePki();
}, 60_000);
afterAll(() => rm(pki.dir, { recursive: true, force: true }));

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function tlsBind(options: tls.TlsOptions) {
  const srv = cleanup.socket(new Socket());
  const errors = new ErrorLog(srv);
  const admitted: string[] = [];
  srv.on("peerConnected", (i) => admitted.push(i.identity.toString("hex")));
  await srv.bind("127.0.0.1", 0, { tls: options });
  return { srv, errors, admitted };
}

async function tlsConnect(port: number, options: tls.ConnectionOptions) {
  const c = cleanup.socket(new Socket({ reconnectionDelay: 50 }));
  const admitted: string[] = [];
  c.on("peerConnected", (i) => admitted.push(i.identity.toString("hex")));
  await c.connect("127.0.0.1", port, { tls: options });
  return { c, admitted };
}

/** The connect end keeps trying (≥ `n` failed TLS handshakes seen by the bind end) and never gets in. */
async function refusedRepeatedly(b: Awaited<ReturnType<typeof tlsBind>>, c: Awaited<ReturnType<typeof tlsConnect>>, n = 4) {
  await b.errors.waitCode("ERR_AIOMSG_PEER_LOST", n, 10_000);
  expect(b.errors.errors.every((e) => /TLS handshake/.test(e.message))).toBe(true);
  expect(b.admitted).toEqual([]);
  expect(c.admitted).toEqual([]);
  expect(c.c.peerCount).toBe(0);
  expect(b.srv.peerCount).toBe(0);
}

async function exchange(srv: Socket, c: Socket) {
  const up = nextEvent(srv, "peerConnected", () => true, 10_000);
  const cInbox = new Inbox(c);
  await up;
  await c.send("over tls, up");
  expect((await srv.recv()).toString()).toBe("over tls, up");
  await srv.send("over tls, down", { identity: c.identity });
  await cInbox.waitFrom(srv.identity.toString("hex"), 1);
}

describe("certificates are verified by default", () => {
  it("a connect end without the CA never connects to a self-signed server, and keeps retrying", async () => {
    const b = await tlsBind({ cert: read(pki.selfSignedCert), key: read(pki.selfSignedKey) });
    const c = await tlsConnect(b.srv.port!, {});
    await refusedRepeatedly(b, c);
  });

  it("a connect end without the CA never connects to a server whose CA it does not know", async () => {
    const b = await tlsBind({ cert: read(pki.serverCert), key: read(pki.serverKey) });
    const c = await tlsConnect(b.srv.port!, {});
    await refusedRepeatedly(b, c);
  });

  it("the right CA but the wrong server name is refused (hostname verification)", async () => {
    const b = await tlsBind({ cert: read(pki.serverCert), key: read(pki.serverKey) });
    const c = await tlsConnect(b.srv.port!, { ca: read(pki.ca), servername: "not-this-server.example" });
    await refusedRepeatedly(b, c);
  });

  it("with the CA it connects and messages flow both ways", async () => {
    const b = await tlsBind({ cert: read(pki.serverCert), key: read(pki.serverKey) });
    const c = await tlsConnect(b.srv.port!, { ca: read(pki.ca) });
    await exchange(b.srv, c.c);
    expect(b.errors.errors).toEqual([]);
  });
});

describe("mutual TLS", () => {
  const mtlsServer = () => ({ cert: read(pki.serverCert), key: read(pki.serverKey), ca: read(pki.ca), requestCert: true, rejectUnauthorized: true });

  it("a client with a certificate from the expected CA is admitted; messages flow both ways", async () => {
    const b = await tlsBind(mtlsServer());
    const c = await tlsConnect(b.srv.port!, { ca: read(pki.ca), cert: read(pki.clientCert), key: read(pki.clientKey) });
    await exchange(b.srv, c.c);
    expect(b.errors.errors).toEqual([]);
  });

  it("a client without a certificate is refused, repeatedly, and never admitted", async () => {
    const b = await tlsBind(mtlsServer());
    const c = await tlsConnect(b.srv.port!, { ca: read(pki.ca) });
    await refusedRepeatedly(b, c);
  });

  it("a client with a certificate from another CA is refused, repeatedly, and never admitted", async () => {
    const b = await tlsBind(mtlsServer());
    const c = await tlsConnect(b.srv.port!, { ca: read(pki.ca), cert: read(pki.otherClientCert), key: read(pki.otherClientKey) });
    await refusedRepeatedly(b, c);
  });

  it("an admitted client keeps working while unknown clients are being refused", async () => {
    const b = await tlsBind(mtlsServer());
    const good = await tlsConnect(b.srv.port!, { ca: read(pki.ca), cert: read(pki.clientCert), key: read(pki.clientKey) });
    await exchange(b.srv, good.c);
    const bad = await tlsConnect(b.srv.port!, { ca: read(pki.ca), cert: read(pki.otherClientCert), key: read(pki.otherClientKey) });
    await b.errors.waitCode("ERR_AIOMSG_PEER_LOST", 4, 10_000);
    expect(bad.admitted).toEqual([]);
    expect(b.admitted).toEqual([good.c.identity.toString("hex")]);
    await good.c.send("still here");
    expect((await b.srv.recv()).toString()).toBe("still here");
  });
});
