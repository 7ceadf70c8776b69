/**
 * close() while a connect end is still dialling: the TCP connection is up but
 * the TLS handshake (tcp:// with { tls }, wss://) or the WebSocket upgrade
 * (ws://) has not finished. close() cuts that socket; the dial must settle so
 * that close() resolves (it waits for the connect loops). A peer that accepts
 * TCP and then says nothing holds every dial in that state.
 */
import { afterEach, describe, expect, it } from "vitest";
import * as net from "node:net";
import { once } from "node:events";
import { Socket } from "../../packages/core/src/index.js";
import { waitFor } from "./helpers.js";

const servers: net.Server[] = [];
const held: net.Socket[] = [];
afterEach(async () => {
  for (const s of held.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((srv) => new Promise((r) => srv.close(r))));
});

async function silentPeer(): Promise<{ port: number; accepted: () => number }> {
  let n = 0;
  const srv = net.createServer((s) => {
    n++;
    s.on("error", () => undefined);
    held.push(s);
  });
  servers.push(srv);
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return { port: (srv.address() as net.AddressInfo).port, accepted: () => n };
}

describe("close() while dialling", () => {
  for (const [what, url, opts] of [
    ["a TLS handshake (tcp:// with { tls })", (p: number) => `tcp://127.0.0.1:${p}`, { tls: {} }],
    ["a wss:// TLS handshake", (p: number) => `wss://127.0.0.1:${p}/`, { tls: {} }],
    ["a ws:// upgrade", (p: number) => `ws://127.0.0.1:${p}/`, {}],
  ] as const) {
    it(`resolves within 2 s when ${what} is still pending (connectTimeout 30 s)`, async () => {
      const peer = await silentPeer();
      const sock = new Socket();
      await sock.connect(url(peer.port), { ...opts, connectTimeout: 30_000 });
      await waitFor(() => peer.accepted() === 1, 5000, "the dial to reach the silent peer");
      let closed = false;
      const closing = sock.close({ linger: 0 }).then(() => (closed = true));
      await waitFor(() => closed, 2000, "close() to resolve").finally(() => void closing);
      expect(closed).toBe(true);
    });
  }
});
