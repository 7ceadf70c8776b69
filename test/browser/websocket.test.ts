/**
 * A real browser (Debian's Chromium, headless) talks aiomsg v1 over WebSocket
 * to a TypeScript bind socket, which also serves a raw TCP peer on the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { Socket } from "../../packages/core/src/index.js";

const CHROMIUM = process.env.AIOMSG_CHROMIUM ?? "/usr/bin/chromium";
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium; .ci/run does)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe("a browser as an aiomsg peer over WebSocket", () => {
  it("handshakes, receives a publish and echoes by identity; a raw TCP peer shares the port", async () => {
    const server = new Socket({ sendMode: "publish", heartbeatInterval: 200 });
    await server.bind("127.0.0.1", 0);
    try {
      const tcpPeer = new Socket();
      await tcpPeer.connect("127.0.0.1", server.port!);
      const page = await browser.newPage();
      const browserId = "42".repeat(16);
      const connected = new Promise<Buffer>((resolve) =>
        server.on("peerConnected", (p) => {
          if (p.identity.toString("hex") === browserId) resolve(p.identity);
        }),
      );
      // The page speaks aiomsg v1 by hand: frames are u32 length + typed envelope.
      const run = page.evaluate(
        ({ port, id }) =>
          new Promise<string[]>((resolve, reject) => {
            const frame = (body: Uint8Array): Uint8Array => {
              const out = new Uint8Array(4 + body.length);
              new DataView(out.buffer).setUint32(0, body.length);
              out.set(body, 4);
              return out;
            };
            const idBytes = new Uint8Array(id.match(/../g)!.map((h) => parseInt(h, 16)));
            const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
            ws.binaryType = "arraybuffer";
            let buf = new Uint8Array(0);
            const seen: string[] = [];
            ws.onopen = () => ws.send(frame(new Uint8Array([1, 1, ...idBytes])));
            ws.onerror = () => reject(new Error("websocket error"));
            ws.onmessage = (ev) => {
              const chunk = new Uint8Array(ev.data as ArrayBuffer);
              const joined = new Uint8Array(buf.length + chunk.length);
              joined.set(buf);
              joined.set(chunk, buf.length);
              buf = joined;
              while (buf.length >= 4) {
                const len = new DataView(buf.buffer, buf.byteOffset).getUint32(0);
                if (buf.length < 4 + len) break;
                const body = buf.slice(4, 4 + len);
                buf = buf.slice(4 + len);
                if (body[0] === 1) seen.push("hello");
                else if (body[0] === 2) seen.push("heartbeat");
                else if (body[0] === 3) {
                  const text = new TextDecoder().decode(body.slice(1));
                  seen.push(text);
                  // Echo back, split over two WebSocket messages on purpose.
                  const f = frame(new Uint8Array([3, ...new TextEncoder().encode(`echo:${text}`)]));
                  ws.send(f.slice(0, 3));
                  ws.send(f.slice(3));
                  if (text === "last") resolve(seen);
                }
              }
            };
          }),
        { port: server.port!, id: browserId },
      );
      await connected;
      await new Promise<void>((resolve) => (tcpPeer.peerCount > 0 ? resolve() : tcpPeer.once("peerConnected", () => resolve())));
      await server.send("first");
      await server.send("last");
      const seen = await run;
      expect(seen[0]).toBe("hello");
      expect(seen.filter((s) => s !== "heartbeat" && s !== "hello")).toEqual(["first", "last"]);
      const echoes = new Set<string>();
      while (echoes.size < 2) {
        const [from, m] = await server.recvIdentity();
        expect(from.toString("hex")).toBe(browserId);
        echoes.add(m.toString());
      }
      expect(echoes).toEqual(new Set(["echo:first", "echo:last"]));
      // The raw TCP peer on the same port got the publish too.
      expect((await tcpPeer.recv()).toString()).toBe("first");
      await tcpPeer.close({ linger: 0 });
      await page.close();
    } finally {
      await server.close({ linger: 0 });
    }
  });
});
