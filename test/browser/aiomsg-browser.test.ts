/**
 * aiomsg-ts/browser (packages/core/dist/browser.js) in Debian's Chromium,
 * driven by playwright-core: the bundle carries no Node import and stays
 * within its size bound, its declarations compile without @types/node, the demo page (interop/web)
 * talks to real Python aiomsg 2026.7.1 bind sockets (checked through the DOM
 * and a screenshot), a page reconnects across a Python bind restart, the
 * close code a page's WebSocket sees for each way a TS bind end ends it, and
 * the rest of the page API against a TS bind end (admission, msgpack, stats,
 * drain): the bundle renames the core's internal properties, so every part
 * of the API a page can reach is run in the page.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium, type Browser, type Page } from "playwright-core";
import { DeliveryGuarantee, Socket } from "../../packages/core/src/index.js";
import { makeCerts } from "../../packages/core/test/certs.js";
import { Proc, Procs, provisionPython, REPO_ROOT, waitFor } from "../cli/helpers.js";

const CHROMIUM = process.env.AIOMSG_CHROMIUM ?? "/usr/bin/chromium";
const DIST = path.join(REPO_ROOT, "packages", "core", "dist");
const PEER = path.join(REPO_ROOT, "interop", "soak", "peer.py");
/** AIOMSG_UPDATE_SCREENSHOT=1 rewrites the screenshot the README shows. */
const SCREENSHOT = path.join(REPO_ROOT, "interop", "web", "screenshot.png");

interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}
type StartWebServer = (o?: { port?: number; extra?: Record<string, [string, string]> }) => Promise<WebServer>;

let browser: Browser;
let web: WebServer;
let python: string;
const procs = new Procs();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium; .ci/run does)`);
  python = await provisionPython("v1");
  const { startWebServer } = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "web", "serve.mjs")).href)) as {
    startWebServer: StartWebServer;
  };
  web = await startWebServer({
    extra: {
      "/harness.html": [path.join(REPO_ROOT, "test", "browser", "harness.html"), "text/html"],
      // The codec a page hands to useMsgpack(): @msgpack/msgpack's own browser build (the global MessagePack).
      "/msgpack.min.js": [path.join(REPO_ROOT, "packages", "core", "node_modules", "@msgpack", "msgpack", "dist.umd", "msgpack.min.js"), "text/javascript"],
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

afterEach(() => procs.killAll());

afterAll(async () => {
  await browser?.close();
  await web?.close();
});

/** interop/soak/peer.py as a Python aiomsg 2026.7.1 bind socket; resolves after its READY line. */
async function pythonBind(label: string, args: string[]): Promise<{ proc: Proc; port: number }> {
  const proc = procs.add(new Proc(label, python, [PEER, "--role", "bind", ...args]));
  await proc.waitOut((l) => l.some((x) => x.startsWith("READY ")), 20_000, "READY");
  return { proc, port: Number(proc.out.find((x) => x.startsWith("READY "))!.slice(6)) };
}

async function harness(): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${web.url}harness.html`);
  await page.waitForSelector("body[data-ready]", { state: "attached", timeout: 10_000 });
  expect(errors).toEqual([]);
  return page;
}

/** Runs tsc on a project; a type error fails with tsc's own output. */
function tscOk(tsc: string, dir: string): void {
  try {
    execFileSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    throw new Error(`tsc -p ${dir} failed:\n${(err as { stdout?: string }).stdout ?? ""}${(err as { stderr?: string }).stderr ?? ""}`);
  }
}

describe("aiomsg-ts/browser bundle", () => {
  it("dist/browser.js is one minified ES module with no require(), no node: import, no bare import and no Buffer, events or msgpack package", () => {
    const js = readFileSync(path.join(DIST, "browser.js"), "utf8");
    expect(js).not.toMatch(/(?<![\w$.])require\s*\(/);
    expect(js).not.toMatch(/["']node:/);
    // Every import is resolved into the bundle: no import statement or dynamic import remains.
    expect(js).not.toMatch(/^\s*import[\s{*]/m);
    expect(js).not.toMatch(/(?<![\w$.])import\s*\(/);
    // No polyfill: the bundle's own small Buffer and EventEmitter (src/shims), no msgpack codec.
    expect(js).not.toMatch(/base64-js|ieee754|MaxListenersExceededWarning|ExtensionCodec|feross/);
    expect(js.split("\n").length).toBeLessThan(10);
    // Minified: the export statement may follow others on the same line.
    expect(js).toMatch(/(?:^|;)export\s*\{[^}]*\bSocket\b/m);
    expect(js).toMatch(/(?:^|;)export\s*\{[^}]*\bDeliveryGuarantee\b/m);
  });

  it("the file the package's ./browser export names is at most 20,000 bytes gzipped at level 9", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, "packages", "core", "package.json"), "utf8")) as { exports: Record<string, { import: string }> };
    const file = path.join(REPO_ROOT, "packages", "core", pkg.exports["./browser"]!.import);
    expect(file).toBe(path.join(DIST, "browser.js"));
    const gzipped = gzipSync(readFileSync(file), { level: 9 }).length;
    expect(gzipped).toBeGreaterThan(0);
    expect(gzipped).toBeLessThanOrEqual(20_000);
  });

  it("dist/browser.d.ts type-checks a page with \"types\": [] (no @types/node), and the implementation conforms to it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "aiomsg-browser-types-"));
    const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const decl = path.join(DIST, "browser.js");
    writeFileSync(
      path.join(dir, "page.ts"),
      `import { Socket, SendMode, DeliveryGuarantee, AiomsgError, WebSocketClosedError, type PeerInfo } from ${JSON.stringify(decl)};
const sock = new Socket({ sendMode: SendMode.PUBLISH, reconnectionDelay: () => 250, heartbeatInterval: 1000 });
sock.on("peerConnected", (p: PeerInfo) => console.log(p.identity.byteLength, p.transport));
sock.on("peerDisconnected", (p) => { if (p.reason instanceof WebSocketClosedError) console.log(p.reason.closeCode); });
sock.on("error", (e: AiomsgError) => console.log(e.code));
export async function main(): Promise<void> {
  await sock.connect("ws://127.0.0.1:25000/", { connectTimeout: 2000 });
  await sock.send(new Uint8Array([1, 2, 3]), { identity: new Uint8Array(16) });
  await sock.send("text");
  const m: Uint8Array = await sock.recv();
  const [id, payload]: [Uint8Array, Uint8Array] = await sock.recvIdentity();
  for await (const x of sock) console.log(x.length + m.length + id.length + payload.length);
  const alo = new Socket({ deliveryGuarantee: DeliveryGuarantee.AT_LEAST_ONCE });
  // @ts-expect-error a connect option of Node's (tls) is not part of the browser API
  await alo.connect("wss://example.org/", { tls: {} });
  // @ts-expect-error no Node types in scope: Buffer is unknown here
  const b: Buffer = m;
  await sock.close({ linger: 0 });
}
`,
    );
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "ES2022", moduleResolution: "bundler", lib: ["ES2022", "DOM", "DOM.Iterable"], types: [], strict: true, noEmit: true },
        files: ["page.ts"],
      }),
    );
    tscOk(tsc, dir);

    // The implementation (src/browser.ts, Node types on) is assignable to the declarations.
    const impl = path.join(REPO_ROOT, "packages", "core", "src", "browser.ts");
    writeFileSync(
      path.join(dir, "conform.ts"),
      `import * as Decl from ${JSON.stringify(decl)};
import * as Impl from ${JSON.stringify(impl)};
// The typed listener methods are generic over the event map (TypeScript cannot relate two such
// signatures), and the methods returning \`this\` return the other class: they are checked by
// calling the implementation with the declared types.
type Plain = Omit<Decl.Socket, "on" | "once" | "off" | "removeAllListeners" | "connect">;
const ctor: new (options?: Decl.SocketOptions) => Plain = Impl.Socket;
const sock: Plain = new Impl.Socket();
const s = new Impl.Socket();
s.on("peerConnected", (p: Decl.PeerInfo) => p);
s.once("peerDisconnected", (p: Decl.PeerDisconnectInfo) => p);
s.on("dropped", (d: Decl.DroppedMessage) => d);
s.off("error", (e: Decl.AiomsgError) => e);
s.removeAllListeners("dropped");
const connect: (url: string, options?: Decl.BrowserConnectOptions) => Promise<unknown> = s.connect.bind(s);
const sm: typeof Decl.SendMode = Impl.SendMode;
const dg: typeof Decl.DeliveryGuarantee = Impl.DeliveryGuarantee;
const ae: typeof Decl.AiomsgError = Impl.AiomsgError;
const pe: typeof Decl.ProtocolError = Impl.ProtocolError;
const ue: typeof Decl.UsageError = Impl.UsageError;
const we: typeof Decl.WebSocketClosedError = Impl.WebSocketClosedError;
const o: Impl.SocketOptions = {} as Decl.SocketOptions;
const o2: Decl.SocketOptions = {} as Impl.SocketOptions;
const ev: Decl.SocketEvents = {} as Impl.SocketEvents;
export { ctor, sock, connect, sm, dg, ae, pe, ue, we, o, o2, ev };
`,
    );
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023", "ESNext.Disposable"],
          types: ["node"], typeRoots: [path.join(REPO_ROOT, "node_modules", "@types")], strict: true, noEmit: true,
          allowImportingTsExtensions: true, skipLibCheck: true,
        },
        files: ["conform.ts"],
      }),
    );
    tscOk(tsc, dir);
  });

  it("dist/browser.d.ts is generated from the source: every doc comment of SocketOptions and SocketStats is there, and no Buffer or import outside comments", () => {
    const decl = readFileSync(path.join(DIST, "browser.d.ts"), "utf8");
    const flat = (text: string): string => text.replace(/^\s*\*(?!\/)/gm, "").replace(/\s+/g, " ");
    const srcDir = path.join(REPO_ROOT, "packages", "core", "src");
    const sources = readdirSync(srcDir, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(path.join(srcDir, f), "utf8"));
    const docsOf = (name: string): string[] => {
      const src = sources.find((text) => text.includes(`export interface ${name} {`));
      expect(src, `export interface ${name} in packages/core/src`).toBeDefined();
      const start = src!.indexOf(`export interface ${name} {`);
      return src!.slice(start, src!.indexOf("\n}\n", start)).match(/\/\*\*[\s\S]*?\*\//g) ?? [];
    };
    const docs = [...docsOf("SocketOptions"), ...docsOf("SocketStats")];
    expect(docs.length).toBeGreaterThan(20);
    for (const doc of docs) expect(flat(decl), doc).toContain(flat(doc));
    const code = decl.split("\n").filter((l) => !/^\s*(\/\*\*|\*|\/\/)/.test(l));
    expect(code.filter((l) => /\bBuffer\b|^\s*import\b|\bfrom "/.test(l))).toEqual([]);
  });
});

/** Pixel statistics of a PNG, decoded by Chromium itself (a canvas). */
async function pngStats(png: Buffer): Promise<{ width: number; height: number; total: number; nonWhite: number; green: number; red: number }> {
  const page = await browser.newPage();
  try {
    return await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement("canvas");
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, img.width, img.height).data;
      const near = (i: number, r: number, g: number, b: number): boolean =>
        Math.abs(d[i]! - r) < 16 && Math.abs(d[i + 1]! - g) < 16 && Math.abs(d[i + 2]! - b) < 16;
      let nonWhite = 0;
      let green = 0;
      let red = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (!near(i, 255, 255, 255)) nonWhite++;
        if (near(i, 0x1b, 0x7f, 0x3b)) green++; // the page's pass colour
        if (near(i, 0xc6, 0x28, 0x28)) red++; // its fail colour
      }
      return { width: img.width, height: img.height, total: d.length / 4, nonWhite, green, red };
    }, png.toString("base64"));
  } finally {
    await page.close();
  }
}

describe("aiomsg-ts/browser in Chromium against Python aiomsg 2026.7.1", () => {
  it("the demo page connects ws://, round-robins, sends by identity and publishes, does at-least-once both ways, and shows 8 passed checks (DOM and screenshot)", async () => {
    const echo = await pythonBind("py-echo", ["--echo", "--print-recv"]);
    const alo = await pythonBind("py-alo", ["--delivery", "at-least-once", "--echo", "--print-recv", "--source-prefix", "alo-py-", "--source-count", "5", "--source-interval", "0.05"]);
    const page = await browser.newPage({ viewport: { width: 960, height: 540 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const q = new URLSearchParams({ rr: `ws://127.0.0.1:${echo.port}/`, alo: `ws://127.0.0.1:${alo.port}/` });
    await page.goto(`${web.url}?${q}`);
    await page.waitForSelector('#status:not([data-state="running"])', { timeout: 30_000 });
    const rows = await page.$$eval("#results tr", (trs) => trs.map((tr) => [tr.className, tr.querySelector(".check")!.textContent]));
    expect(errors).toEqual([]);
    expect(await page.textContent("#status")).toBe("all 8 checks passed");
    expect(rows).toEqual(
      [
        "connect ws:// to a Python bind socket",
        "round-robin send, Python echoes back",
        "send to an identity",
        "JSON round trip",
        "publish send, Python echoes back",
        "at-least-once both ways",
        "bind() is refused in a page",
        "close()",
      ].map((check) => ["pass", check]),
    );
    // What the Python sockets printed they received.
    const received = (p: Proc): string[] => p.out.filter((l) => l.startsWith("R ")).map((l) => l.slice(2));
    expect(received(echo.proc)).toEqual(["rr-0", "rr-1", "rr-2", "by-identity", '{"n":42,"s":"héllo ✓"}', "pub-0", "pub-1"]);
    expect(received(alo.proc)).toEqual(["alo-page-0", "alo-page-1", "alo-page-2"]);

    const png = await page.screenshot({ fullPage: true });
    writeFileSync(path.join(os.tmpdir(), "aiomsg-browser-demo.png"), png);
    if (process.env.AIOMSG_UPDATE_SCREENSHOT === "1") writeFileSync(SCREENSHOT, png);
    const stats = await pngStats(png);
    expect(stats.width).toBe(960);
    expect(stats.height).toBeGreaterThanOrEqual(400);
    // Not blank: text and table on white, 8 green check cells and the green status bar, no red.
    expect(stats.nonWhite / stats.total).toBeGreaterThan(0.05);
    expect(stats.green).toBeGreaterThan(8 * 24 * 24 + 600 * 20);
    expect(stats.red).toBe(0);
    await page.close();
  });

  it("a page's socket reconnects across a Python bind restart on the same port, calling the reconnectionDelay callback", async () => {
    const first = await pythonBind("py-first", ["--echo"]);
    const page = await harness();
    const url = `ws://127.0.0.1:${first.port}/`;
    const before = await page.evaluate(async (url) => {
      const w = window as unknown as Record<string, any>;
      const { Socket } = w.aiomsg;
      w.delays = 0;
      w.events = [];
      const sock = new Socket({ heartbeatInterval: 200, heartbeatTimeout: 1000, reconnectionDelay: () => (w.delays++, 50) });
      w.sock = sock;
      const hex = (u8: Uint8Array): string => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
      sock.on("peerConnected", (p: any) => w.events.push(`up ${hex(p.identity)}`));
      sock.on("peerDisconnected", (p: any) => w.events.push(`down ${p.reason?.code ?? "orderly"}`));
      const up = new Promise((r) => sock.once("peerConnected", r));
      await sock.connect(url);
      await up;
      await sock.send("before");
      return new TextDecoder().decode(await sock.recv());
    }, url);
    expect(before).toBe("before");
    first.proc.kill("SIGKILL");
    await first.proc.exit;
    await page.waitForFunction(() => (window as any).events.some((e: string) => e.startsWith("down")), undefined, { timeout: 5000 });
    // The page tries again meanwhile (each failed attempt waits reconnectionDelay).
    await page.waitForFunction(() => (window as any).delays >= 2, undefined, { timeout: 5000 });
    const second = await pythonBind("py-second", ["--echo", "--port", String(first.port)]);
    expect(second.port).toBe(first.port);
    const after = await page.evaluate(async () => {
      const w = window as unknown as Record<string, any>;
      if (w.sock.peerCount === 0) await new Promise((r) => w.sock.once("peerConnected", r));
      await w.sock.send("after");
      const m = new TextDecoder().decode(await w.sock.recv());
      const events = [...(w.events as string[])];
      await w.sock.close({ linger: 0 });
      return { m, events };
    });
    expect(after.m).toBe("after");
    expect(after.events, after.events.join("\n")).toHaveLength(3);
    expect(after.events[0]).toMatch(/^up [0-9a-f]{32}$/);
    expect(after.events[1]).toMatch(/^down ERR_AIOMSG_PEER_LOST$/);
    expect(after.events[2]).toMatch(/^up [0-9a-f]{32}$/);
    // A new Python process: a new identity.
    expect(after.events[2]).not.toBe(after.events[0]);
    await page.close();
  });
});

describe("the close code a page's WebSocket sees from a TS bind end (RFC 6455)", () => {
  const servers: Socket[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close({ linger: 0 });
  });
  async function tsBind(options: ConstructorParameters<typeof Socket>[0]): Promise<string> {
    const server = new Socket(options);
    servers.push(server);
    await server.bind("127.0.0.1", 0);
    return `ws://127.0.0.1:${server.port}/`;
  }
  /** A page socket (aiomsg-ts/browser) that records its events; no reconnection within the test. */
  async function pageSocket(page: Page, url: string, options: Record<string, unknown>, name = "sock"): Promise<void> {
    await page.evaluate(
      async ({ url, options, name }) => {
        const w = window as unknown as Record<string, any>;
        const sock = new w.aiomsg.Socket({ reconnectionDelay: 60_000, ...options });
        w[name] = sock;
        w[`${name}Events`] = [];
        const log = (e: string): number => w[`${name}Events`].push(e);
        sock.on("peerConnected", () => log("up"));
        sock.on("peerDisconnected", (p: any) => log(`down ${p.reason === undefined ? "orderly" : `${p.reason.name} ${p.reason.code} ${p.reason.closeCode}`}`));
        sock.on("error", (e: any) => log(`error ${e.code}${e.cause?.closeCode ? ` ${e.cause.closeCode}` : ""}`));
        await sock.connect(url);
      },
      { url, options, name },
    );
  }
  const closeCodes = async (page: Page, n: number): Promise<number[]> => {
    await page.waitForFunction((n) => (window as any).closeCodes.length >= n, n, { timeout: 5000 });
    return page.evaluate(() => (window as any).closeCodes as number[]);
  };
  const events = (page: Page, name = "sock"): Promise<string[]> => page.evaluate((name) => (window as any)[`${name}Events`] as string[], name);
  const waitEvent = (page: Page, prefix: string, name = "sock"): Promise<unknown> =>
    page.waitForFunction(({ prefix, name }) => ((window as any)[`${name}Events`] as string[]).some((e) => e.startsWith(prefix)), { prefix, name }, { timeout: 5000 });

  it("orderly close of the bind end: 1000, and the page's peerDisconnected has no reason", async () => {
    const url = await tsBind({});
    const page = await harness();
    await pageSocket(page, url, {});
    await waitEvent(page, "up");
    // One message first, so that the close does not look like a refusal (a close right after the handshake would).
    await servers[0]!.send("bye");
    expect(await page.evaluate(async () => new TextDecoder().decode(await (window as any).sock.recv()))).toBe("bye");
    await servers[0]!.close();
    expect(await closeCodes(page, 1)).toEqual([1000]);
    await waitEvent(page, "down");
    expect(await events(page)).toEqual(["up", "down orderly"]);
    await page.close();
  });

  it("heartbeat timeout (the page sends nothing after its HELLO): 1001, a WebSocketClosedError with closeCode 1001", async () => {
    const url = await tsBind({ heartbeatInterval: 100, heartbeatTimeout: 400 });
    const page = await harness();
    await pageSocket(page, url, { heartbeatInterval: 60_000, heartbeatTimeout: 120_000 });
    expect(await closeCodes(page, 1)).toEqual([1001]);
    await waitEvent(page, "down");
    expect((await events(page)).slice(0, 2)).toEqual(["up", "down WebSocketClosedError ERR_AIOMSG_PEER_LOST 1001"]);
    await page.close();
  });

  it("handshake timeout (the page's WebSocket opens and never sends a HELLO): 1001", async () => {
    const url = await tsBind({ handshakeTimeout: 300 });
    const page = await harness();
    // (A page aiomsg socket always greets at once, protocol "auto" included: over WebSocket it speaks v1.)
    await page.evaluate((url) => {
      (window as any).silent = new WebSocket(url);
    }, url);
    expect(await closeCodes(page, 1)).toEqual([1001]);
    await page.close();
  });

  it("protocol error (a HELLO with version 9 from the page's WebSocket): 1002", async () => {
    const url = await tsBind({});
    const page = await harness();
    await page.evaluate((url) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => ws.send(new Uint8Array([0, 0, 0, 18, 0x01, 0x09, ...new Array<number>(16).fill(7)]));
    }, url);
    expect(await closeCodes(page, 1)).toEqual([1002]);
    await page.close();
  });

  it("duplicate identity (a second page socket with the first one's identity): 1008, reported as ERR_AIOMSG_REFUSED", async () => {
    const url = await tsBind({});
    const page = await harness();
    const identity = Array.from({ length: 16 }, (_, i) => i + 1);
    await page.evaluate((id) => ((window as any).sharedId = new Uint8Array(id)), identity);
    await page.evaluate(async (url) => {
      const w = window as any;
      for (const name of ["first", "second"]) {
        const sock = new w.aiomsg.Socket({ identity: w.sharedId, reconnectionDelay: 60_000 });
        w[name] = sock;
        w[`${name}Events`] = [];
        sock.on("peerConnected", () => w[`${name}Events`].push("up"));
        sock.on("error", (e: any) => w[`${name}Events`].push(`error ${e.code}`));
        await sock.connect(url);
        if (name === "first") await new Promise((r) => sock.once("peerConnected", r));
      }
    }, url);
    expect(await closeCodes(page, 1)).toEqual([1008]);
    await waitEvent(page, "error ERR_AIOMSG_REFUSED", "second");
    expect(await events(page, "first")).toEqual(["up"]);
    expect(await events(page, "second")).not.toContain("up");
    await page.close();
  });
});

describe("aiomsg-ts/browser flow control in Chromium", () => {
  it("a page socket with receiveHighWaterMessages 4 gets 300 messages that arrived unread, in order", async () => {
    const server = new Socket({ heartbeatInterval: 200 });
    await server.bind("127.0.0.1", 0);
    try {
      const page = await harness();
      await page.evaluate(async (url) => {
        const w = window as any;
        w.sock = new w.aiomsg.Socket({ receiveHighWaterMessages: 4 });
        const up = new Promise((r) => w.sock.once("peerConnected", r));
        await w.sock.connect(url);
        await up;
      }, `ws://127.0.0.1:${server.port}/`);
      for (let i = 0; i < 300; i++) await server.send(`m${i}`);
      const got = await page.evaluate(async () => {
        const w = window as any;
        // Let everything arrive while nothing is read: the queue fills, delivery stops.
        await new Promise((r) => setTimeout(r, 300));
        const out: string[] = [];
        for (let i = 0; i < 300; i++) out.push(new TextDecoder().decode(await w.sock.recv()));
        await w.sock.close({ linger: 0 });
        return out;
      });
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
      await page.close();
    } finally {
      await server.close({ linger: 0 });
    }
  });
});

describe("aiomsg-ts/browser: no silent loss in Chromium", () => {
  /**
   * A bind end by hand that upgrades, greets with a v1 HELLO, then stops
   * reading: the page's 17 MiB batch cannot leave the browser, and the test
   * cuts the connection while it waits.
   */
  async function stuckBindEnd(): Promise<{ port: number; cut(): void; connected: Promise<void>; close(): void }> {
    const { createServer } = await import("node:net");
    const { createHash } = await import("node:crypto");
    let sock: import("node:net").Socket | undefined;
    let onConnected!: () => void;
    const connected = new Promise<void>((r) => (onConnected = r));
    const server = createServer((s) => {
      sock = s;
      let head = "";
      const onData = (d: Buffer): void => {
        head += d.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        s.off("data", onData);
        const key = /sec-websocket-key:\s*(\S+)/i.exec(head)![1]!;
        const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
        s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        // One unmasked binary message: the length-prefixed HELLO (version 1, identity 16 x 0x5a).
        const hello = Buffer.concat([Buffer.from([0, 0, 0, 18, 0x01, 0x01]), Buffer.alloc(16, 0x5a)]);
        s.write(Buffer.concat([Buffer.from([0x82, hello.length]), hello]));
        s.pause(); // reads nothing more: the kernel buffers fill, then the browser's
        onConnected();
      };
      s.on("data", onData);
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
      port: (server.address() as import("node:net").AddressInfo).port,
      connected,
      cut: () => sock?.destroy(),
      close: () => server.close(),
    };
  }

  it("a page's 17 MiB batch still in the browser when the connection is cut is reported dropped in the page (ERR_AIOMSG_PEER_LOST, with its cause), 3 times of 3", async () => {
    const page = await harness();
    for (let run = 0; run < 3; run++) {
      const bind = await stuckBindEnd();
      try {
        await page.evaluate(async (url) => {
          const w = window as any;
          w.lossSock = new w.aiomsg.Socket({ reconnectionDelay: () => 60_000 });
          w.lossDropped = [];
          w.lossSock.on("dropped", (d: any) => w.lossDropped.push([d.code, d.payload.length, d.reason?.code ?? "-"]));
          w.lossSock.on("error", () => undefined);
          const up = new Promise((res) => w.lossSock.once("peerConnected", res));
          await w.lossSock.connect(url);
          await up;
          // Not awaited: send() waits for room above highWaterMark.
          void w.lossSock.send(new Uint8Array(17 * 1024 * 1024).fill(0x62));
        }, `ws://127.0.0.1:${bind.port}/`);
        await bind.connected;
        bind.cut();
        const dropped = await page.evaluate(async () => {
          const w = window as any;
          const deadline = Date.now() + 10_000;
          while (w.lossDropped.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          await w.lossSock.close({ linger: 0 });
          return w.lossDropped;
        });
        expect(dropped, `run ${run}`).toEqual([["ERR_AIOMSG_PEER_LOST", 17 * 1024 * 1024, "ERR_AIOMSG_PEER_LOST"]]);
      } finally {
        bind.close();
      }
    }
    await page.close();
  }, 120_000);
});

describe("aiomsg-ts/browser liveness and TLS in Chromium against a TS bind end", () => {
  it("heartbeats from the page (every 100 ms) keep it connected through 3 of the bind end's 400 ms heartbeat timeouts", async () => {
    const server = new Socket({ heartbeatInterval: 100, heartbeatTimeout: 400 });
    await server.bind("127.0.0.1", 0);
    try {
      const page = await harness();
      const lost = await page.evaluate(async (url) => {
        const w = window as any;
        const sock = new w.aiomsg.Socket({ heartbeatInterval: 100, heartbeatTimeout: 400, reconnectionDelay: 60_000 });
        let downs = 0;
        sock.on("peerDisconnected", () => downs++);
        const up = new Promise((r) => sock.once("peerConnected", r));
        await sock.connect(url);
        await up;
        await new Promise((r) => setTimeout(r, 1200));
        const result = { downs, peers: sock.peerCount, closes: [...w.closeCodes] };
        await sock.close({ linger: 0 });
        return result;
      }, `ws://127.0.0.1:${server.port}/`);
      expect(lost).toEqual({ downs: 0, peers: 1, closes: [] });
      await page.close();
    } finally {
      await server.close({ linger: 0 });
    }
  });

  it("a page whose heartbeat timeout expires closes with 4001 (3000 + 1001 going away), echoed by the bind end", async () => {
    const server = new Socket({ heartbeatInterval: 60_000, heartbeatTimeout: 120_000 });
    await server.bind("127.0.0.1", 0);
    try {
      const page = await harness();
      const reason = await page.evaluate(async (url) => {
        const w = window as any;
        const sock = new w.aiomsg.Socket({ heartbeatInterval: 100, heartbeatTimeout: 300, reconnectionDelay: 60_000 });
        const down = new Promise<any>((r) => sock.once("peerDisconnected", r));
        await sock.connect(url);
        const info = await down;
        await sock.close({ linger: 0 });
        return info.reason.code;
      }, `ws://127.0.0.1:${server.port}/`);
      expect(reason).toBe("ERR_AIOMSG_HEARTBEAT_TIMEOUT");
      await page.waitForFunction(() => (window as any).closeCodes.length >= 1, undefined, { timeout: 5000 });
      expect(await page.evaluate(() => (window as any).closeCodes)).toEqual([4001]);
      await page.close();
    } finally {
      await server.close({ linger: 0 });
    }
  });

  it("wss:// to a TLS bind end: the page sends and receives over TLS (a context that accepts the test CA's certificate)", async () => {
    const certs = makeCerts("localhost");
    const server = new Socket();
    await server.bind("127.0.0.1", 0, { tls: { cert: certs.cert, key: certs.key } });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      await page.goto(`${web.url}harness.html`);
      await page.waitForSelector("body[data-ready]", { state: "attached", timeout: 10_000 });
      const connected = new Promise<string>((r) => server.once("peerConnected", (p) => r(p.transport)));
      const echoed = page.evaluate(async (url) => {
        const w = window as any;
        const sock = new w.aiomsg.Socket();
        const up = new Promise<any>((r) => sock.once("peerConnected", r));
        await sock.connect(url);
        const peer = await up;
        await sock.send("over tls");
        const m = new TextDecoder().decode(await sock.recv());
        await sock.close({ linger: 0 });
        return { m, transport: peer.transport };
      }, `wss://localhost:${server.port}/`);
      expect(await connected).toBe("wss");
      const [from, m] = await server.recvIdentity();
      await server.send(Buffer.concat([Buffer.from("echo: "), m]), { identity: from });
      expect(await echoed).toEqual({ m: "echo: over tls", transport: "wss" });
    } finally {
      await context.close();
      await server.close({ linger: 0 });
    }
  });
});

describe("aiomsg-ts/browser's wider API in Chromium against a TS bind end", () => {
  it("admission both ways (tokens read by admit hooks), useMsgpack with @msgpack/msgpack, sendMsgpack/recvMsgpack/recvJson/recvIdentity at-least-once, stats(), then drain() without loss", async () => {
    const server = new Socket({
      deliveryGuarantee: DeliveryGuarantee.AT_LEAST_ONCE,
      admissionToken: "server-token",
      admit: async (req) => new TextDecoder().decode(await req.readMessage()) === "page-token",
    });
    await server.bind("127.0.0.1", 0);
    const serverSaw: string[] = [];
    server.on("peerConnected", (p) => serverSaw.push(`up ${p.transport}`));
    server.on("peerDisconnected", (p) => serverSaw.push(`down ${p.reason === undefined ? "orderly" : p.reason.code}`));
    try {
      const page = await harness();
      await page.addScriptTag({ url: "/msgpack.min.js" });
      const done = page.evaluate(async (url) => {
        const w = window as any;
        w.aiomsg.useMsgpack(w.MessagePack);
        const tokens: string[] = [];
        const sock = new w.aiomsg.Socket({
          protocol: "auto",
          deliveryGuarantee: w.aiomsg.DeliveryGuarantee.AT_LEAST_ONCE,
          admissionToken: "page-token",
          admit: async (req: any) => {
            const token = new TextDecoder().decode(await req.readMessage());
            tokens.push(`${token} ${req.identity.length} ${req.transport}`);
            return token === "server-token";
          },
        });
        const up = new Promise<any>((r) => sock.once("peerConnected", r));
        await sock.connect(url);
        const peer = await up;
        await sock.sendMsgpack({ n: 1, s: "héllo ✓" });
        await sock.sendJson([1, "two"]);
        const json = await sock.recvJson();
        const packed = await sock.recvMsgpack();
        const [from, raw] = await sock.recvIdentity();
        const stats = sock.stats();
        await sock.drain({ timeout: 3000 });
        return {
          tokens,
          peer: [peer.transport, peer.identity.length],
          json,
          packed,
          raw: raw.toString("hex"),
          fromIsPeer: from.length === peer.identity.length && from.every((b: number, i: number) => b === peer.identity[i]),
          stats: {
            messagesIn: stats.messagesIn,
            messagesOut: stats.messagesOut,
            unreadMessages: stats.unreadMessages,
            peers: stats.peers.map((p: any) => [p.state, p.protocol, p.direction, p.transport, p.messagesIn, p.messagesOut]),
          },
          after: { peerCount: sock.peerCount, unacknowledged: sock.stats().unacknowledged },
        };
      }, `ws://127.0.0.1:${server.port}/`);
      // The page's msgpack message, decoded by the Node socket's own codec.
      expect(await server.recvMsgpack()).toEqual({ n: 1, s: "héllo ✓" });
      const [id, json] = await server.recvIdentity();
      expect(JSON.parse(json.toString("utf8"))).toEqual([1, "two"]);
      await server.sendJson({ ok: true }, { identity: id });
      await server.sendMsgpack([3, { four: 4 }], { identity: id });
      await server.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { identity: id });
      const result = await done;
      expect(result).toEqual({
        tokens: ["server-token 16 ws"],
        peer: ["ws", 16],
        json: { ok: true },
        packed: [3, { four: 4 }],
        raw: "deadbeef",
        fromIsPeer: true,
        // Out: the admission token and two messages (as in Node); in: three (the server's token went to the admit hook).
        stats: { messagesIn: 3, messagesOut: 3, unreadMessages: 0, peers: [["admitted", "v1", "connect", "ws", 3, 3]] },
        after: { peerCount: 0, unacknowledged: 0 },
      });
      await waitFor(() => serverSaw.length >= 2, 5000, "the server to see the page leave");
      expect(serverSaw).toEqual(["up ws", "down orderly"]);
      await page.close();
    } finally {
      await server.close({ linger: 0 });
    }
  });
});
