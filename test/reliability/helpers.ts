/**
 * Shared plumbing for the reliability suite: conditions with deadlines (never
 * bare sleeps), hand-made wire bytes, raw hostile connections, message
 * collectors, a real Python aiomsg peer process, and a good-peer traffic pump
 * that proves other peers lose nothing while one connection is attacked.
 */
import * as net from "node:net";
import { once } from "node:events";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Socket, AiomsgError, type SocketOptions, type PeerDisconnectInfo } from "../../packages/core/src/index.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PY_PEER = path.join(REPO_ROOT, "interop", "soak", "peer.py");

// --- waiting ---------------------------------------------------------------------

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves on the next `event` for which `pred` holds; rejects at the deadline. */
export function nextEvent<T>(
  emitter: NodeJS.EventEmitter,
  event: string,
  pred: (arg: T) => boolean = () => true,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${event}`));
    }, timeoutMs);
    const on = (arg: T): void => {
      if (!pred(arg)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(arg);
    };
    emitter.on(event, on);
  });
}

// --- wire bytes, built by hand from docs/protocol.md (independent of the codec under test) --

export function frame(body: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

export function prefix(len: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(len);
  return b;
}

export const wire = {
  hello: (identity: Uint8Array, version = 1): Buffer => Buffer.concat([Buffer.from([0x01, version]), identity]),
  heartbeat: (): Buffer => Buffer.from([0x02]),
  data: (payload: string | Uint8Array): Buffer => Buffer.concat([Buffer.from([0x03]), Buffer.from(payload)]),
  dataReq: (msgId: Uint8Array, payload: string | Uint8Array): Buffer =>
    Buffer.concat([Buffer.from([0x04]), msgId, Buffer.from(payload)]),
  ack: (msgId: Uint8Array): Buffer => Buffer.concat([Buffer.from([0x05]), msgId]),
  legacyHeartbeat: Buffer.from("aiomsg-heartbeat", "latin1"),
};

export function randomIdentity(): Buffer {
  return randomBytes(16);
}

// --- raw connections ----------------------------------------------------------------

/** A hand-driven TCP peer: writes whatever it is told, records what comes back. */
export class RawConn {
  readonly received: Buffer[] = [];
  closed = false;
  closedAt = 0;
  readonly openedAt = Date.now();

  constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => this.received.push(d));
    sock.on("error", () => undefined);
    sock.on("close", () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
  }

  static async connect(port: number): Promise<RawConn> {
    const s = net.connect(port, "127.0.0.1");
    const c = new RawConn(s);
    await once(s, "connect");
    return c;
  }

  write(bytes: Uint8Array): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  frame(body: Uint8Array): void {
    this.write(frame(body));
  }

  async waitClosed(timeoutMs = 5000): Promise<number> {
    await waitFor(() => this.closed, timeoutMs, "the raw connection to be closed by the other end");
    return this.closedAt;
  }

  destroy(): void {
    this.sock.destroy();
  }
}

// --- observing sockets ---------------------------------------------------------------

/** Every `error` event of a socket (attaching the listener turns them on). */
export class ErrorLog {
  readonly errors: AiomsgError[] = [];
  constructor(sock: Socket) {
    sock.on("error", (e) => this.errors.push(e));
  }
  count(code: string): number {
    return this.errors.filter((e) => e.code === code).length;
  }
  codes(): string[] {
    return [...new Set(this.errors.map((e) => e.code))].sort();
  }
  async waitCode(code: string, n = 1, timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.count(code) >= n, timeoutMs, `${n}x ${code} (have ${JSON.stringify(this.codes())})`);
  }
}

/** Reads every message of a socket into memory, tagged with the sender's hex identity. */
export class Inbox {
  readonly messages: Array<{ from: string; text: string }> = [];
  private readonly done: Promise<void>;
  constructor(sock: Socket) {
    this.done = (async () => {
      for await (const [id, payload] of sock.identityMessages()) {
        this.messages.push({ from: id.toString("hex"), text: payload.toString("latin1") });
      }
    })();
  }
  from(idHex: string): string[] {
    return this.messages.filter((m) => m.from === idHex).map((m) => m.text);
  }
  texts(): string[] {
    return this.messages.map((m) => m.text);
  }
  async waitFrom(idHex: string, n: number, timeoutMs = 5000): Promise<string[]> {
    await waitFor(() => this.from(idHex).length >= n, timeoutMs, `${n} messages from ${idHex} (have ${this.from(idHex).length})`);
    return this.from(idHex);
  }
}

/** Records peerDisconnected events. */
export class DisconnectLog {
  readonly events: Array<PeerDisconnectInfo & { at: number }> = [];
  constructor(sock: Socket) {
    sock.on("peerDisconnected", (info) => this.events.push({ ...info, at: Date.now() }));
  }
  of(idHex: string): Array<PeerDisconnectInfo & { at: number }> {
    return this.events.filter((e) => e.identity.toString("hex") === idHex);
  }
}

// --- sockets ------------------------------------------------------------------------

/** Closes everything a test opened, whatever happened in it. */
export class Cleanup {
  private readonly fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  socket<T extends Socket>(s: T): T {
    this.add(() => s.close({ linger: 0 }));
    return s;
  }
  async run(): Promise<void> {
    const fns = this.fns.splice(0).reverse();
    for (const fn of fns) {
      try {
        await fn();
      } catch {
        /* best effort */
      }
    }
  }
}

/** A bind socket on a free port plus one good connect peer, both open. */
export async function pair(
  cleanup: Cleanup,
  bindOpts: SocketOptions = {},
  connectOpts: SocketOptions = {},
): Promise<{ srv: Socket; good: Socket; port: number }> {
  const srv = cleanup.socket(new Socket(bindOpts));
  await srv.bind("127.0.0.1", 0);
  const port = srv.port!;
  const good = cleanup.socket(new Socket({ protocol: bindOpts.protocol === "legacy" || bindOpts.protocol === "early" ? bindOpts.protocol : "v1", ...connectOpts }));
  const up = nextEvent(srv, "peerConnected", (i: { identity: Buffer }) => i.identity.equals(good.identity));
  await good.connect("127.0.0.1", port);
  await up;
  await waitFor(() => good.peerCount === 1, 5000, "good peer open on its side");
  return { srv, good, port };
}

/**
 * Two-way traffic between a bind socket and one good peer while something
 * else happens: `g<i>` good→srv and `s<i>` srv→good (by identity). `finish()`
 * stops the pump and checks that every message arrived, once, in order.
 */
export class Traffic {
  private i = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly srvInbox: Inbox;
  private readonly goodInbox: Inbox;
  private readonly sendErrors: unknown[] = [];

  constructor(
    private readonly srv: Socket,
    private readonly good: Socket,
    private readonly perTick = 5,
  ) {
    this.srvInbox = new Inbox(srv);
    this.goodInbox = new Inbox(good);
  }

  start(): this {
    this.timer = setInterval(() => this.pump(), 2);
    return this;
  }

  private pump(): void {
    for (let k = 0; k < this.perTick; k++, this.i++) {
      this.good.send(`g${this.i}`).catch((e: unknown) => this.sendErrors.push(e));
      this.srv.send(`s${this.i}`, { identity: this.good.identity }).catch((e: unknown) => this.sendErrors.push(e));
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop and verify; returns how many messages went each way. */
  async finish(timeoutMs = 10_000): Promise<number> {
    this.stop();
    this.pump();
    if (this.sendErrors.length > 0) throw new Error(`send() failed: ${String(this.sendErrors[0])}`);
    const n = this.i;
    const goodHex = this.good.identity.toString("hex");
    const srvHex = this.srv.identity.toString("hex");
    await this.srvInbox.waitFrom(goodHex, n, timeoutMs);
    await this.goodInbox.waitFrom(srvHex, n, timeoutMs);
    const expected = Array.from({ length: n }, (_, i) => i);
    const got = (list: string[], p: string): number[] => list.map((t) => Number(t.slice(p.length)));
    if (JSON.stringify(got(this.srvInbox.from(goodHex), "g")) !== JSON.stringify(expected)) {
      throw new Error("good peer → bind: messages missing, duplicated or out of order");
    }
    if (JSON.stringify(got(this.goodInbox.from(srvHex), "s")) !== JSON.stringify(expected)) {
      throw new Error("bind → good peer: messages missing, duplicated or out of order");
    }
    return n;
  }

  get srvMessages(): Inbox {
    return this.srvInbox;
  }
}

// --- real Python aiomsg ------------------------------------------------------------------

/** Provisions (once, cached) interop/.venv-v1 with aiomsg 2026.7.1 and returns its python. */
export async function pythonV1(): Promise<string> {
  const mod = (await import(pathToFileURL(path.join(REPO_ROOT, "interop", "lib", "python.mjs")).href)) as {
    provisionPython(wire: string): Promise<string>;
  };
  return mod.provisionPython("v1");
}

/** interop/soak/peer.py on real Python aiomsg, with its stdout parsed line by line. */
export class PyPeer {
  readonly proc: ChildProcess;
  readonly received: string[] = [];
  readonly stderr: string[] = [];
  sent = 0;
  port = 0;
  exited = false;
  readonly exit: Promise<void>;

  private constructor(python: string, args: string[]) {
    this.proc = spawn(python, [PY_PEER, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } });
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      if (line.startsWith("R ")) this.received.push(line.slice(2));
      else if (line.startsWith("S ")) this.sent = Number(line.slice(2));
      else if (line.startsWith("READY ")) this.port = Number(line.slice(6));
    });
    createInterface({ input: this.proc.stderr! }).on("line", (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    this.exit = new Promise((resolve) => this.proc.once("exit", () => ((this.exited = true), resolve())));
  }

  static async start(python: string, args: string[], timeoutMs = 20_000): Promise<PyPeer> {
    const p = new PyPeer(python, args);
    try {
      await waitFor(() => p.port !== 0 || p.exited, timeoutMs, "python peer READY");
    } catch (err) {
      p.kill();
      throw err;
    }
    if (p.exited) throw new Error(`python peer exited before READY: ${p.stderr.join("\n")}`);
    return p;
  }

  /** SIGKILL (default) and wait until the process is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.exited) this.proc.kill(signal);
    await this.exit;
  }
}

/** Count how often each value occurs. */
export function tally(values: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

// --- a TCP proxy that can partition the path -----------------------------------------

interface ProxyPair {
  down: net.Socket;
  up: net.Socket | undefined;
  downHeld: Buffer[];
  upHeld: Buffer[];
  downClosed: boolean;
  upClosed: boolean;
}

/**
 * Forwards 127.0.0.1:<port> to a target. partition() stops forwarding in both
 * directions without closing anything (bytes are held, as a black-holed route
 * would leave them in flight), and new connections are accepted but not
 * connected onward. heal() forwards again; connections that one side closed
 * meanwhile are torn down on the other side too, as the FIN would have been
 * delivered once the route came back.
 */
export class PartitionProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<ProxyPair>();
  partitioned = false;
  accepted = 0;

  constructor(private readonly targetPort: number) {
    this.server = net.createServer((down) => this.onConnection(down));
  }

  async listen(): Promise<number> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return (this.server.address() as net.AddressInfo).port;
  }

  private onConnection(down: net.Socket): void {
    this.accepted++;
    const pair: ProxyPair = { down, up: undefined, downHeld: [], upHeld: [], downClosed: false, upClosed: false };
    this.pairs.add(pair);
    down.on("error", () => undefined);
    down.on("data", (d: Buffer) => {
      if (this.partitioned || pair.up === undefined) pair.downHeld.push(d);
      else pair.up.write(d);
    });
    down.on("close", () => {
      pair.downClosed = true;
      if (!this.partitioned) this.drop(pair);
    });
    if (!this.partitioned) this.connectUp(pair);
  }

  private connectUp(pair: ProxyPair): void {
    const up = net.connect(this.targetPort, "127.0.0.1");
    pair.up = up;
    up.on("error", () => undefined);
    up.on("data", (d: Buffer) => {
      if (this.partitioned) pair.upHeld.push(d);
      else pair.down.write(d);
    });
    up.on("close", () => {
      pair.upClosed = true;
      if (!this.partitioned) this.drop(pair);
    });
    for (const d of pair.downHeld.splice(0)) up.write(d);
  }

  private drop(pair: ProxyPair): void {
    this.pairs.delete(pair);
    pair.up?.destroy();
    pair.down.destroy();
  }

  partition(): void {
    this.partitioned = true;
  }

  heal(): void {
    this.partitioned = false;
    for (const pair of [...this.pairs]) {
      if (pair.downClosed || pair.upClosed) {
        this.drop(pair);
        continue;
      }
      if (pair.up === undefined) this.connectUp(pair);
      else for (const d of pair.downHeld.splice(0)) pair.up.write(d);
      for (const d of pair.upHeld.splice(0)) pair.down.write(d);
    }
  }

  close(): void {
    for (const pair of [...this.pairs]) this.drop(pair);
    this.server.close();
  }
}

/**
 * Let time pass to observe that something does NOT happen within a window
 * (e.g. a healthy idle connection is not dropped). Never used to wait for
 * something to happen: that is waitFor's job.
 */
export function observeFor(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// --- throwaway PKI (openssl CLI, at test time) ------------------------------------------

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A second, unrelated CA and a client certificate it signed. */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
  /** A self-signed server certificate (no CA). */
  selfSignedCert: string;
  selfSignedKey: string;
}

export async function makePki(): Promise<Pki> {
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const os = await import("node:os");
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const run = promisify(execFile);
  const dir = await mkdtemp(path.join(os.tmpdir(), "aiomsg-reliability-pki-"));
  const f = (n: string) => path.join(dir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = async (name: string) =>
    run("openssl", ["req", "-x509", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.pem`), "-days", "2", "-subj", `/CN=${name}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const leaf = async (name: string, caName: string, ext: string[]) => {
    await run("openssl", ["req", "-new", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${name}`]);
    await writeFile(f(`${name}.ext`), [...ext, "basicConstraints=critical,CA:FALSE", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid,issuer", ""].join("\n"));
    await run("openssl", ["x509", "-req", "-in", f(`${name}.csr`), "-CA", f(`${caName}.pem`), "-CAkey", f(`${caName}.key`), "-CAcreateserial",
      "-out", f(`${name}.pem`), "-days", "2", "-extfile", f(`${name}.ext`)]);
  };
  const serverExt = ["subjectAltName=IP:127.0.0.1,DNS:localhost", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth"];
  const clientExt = ["keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"];
  await ca("ca");
  await ca("other-ca");
  await leaf("server", "ca", serverExt);
  await leaf("client", "ca", clientExt);
  await leaf("other-client", "other-ca", clientExt);
  await run("openssl", ["req", "-x509", ...ec, "-keyout", f("self.key"), "-out", f("self.pem"), "-days", "2", "-subj", "/CN=self-signed",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  return {
    dir,
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
    otherCa: f("other-ca.pem"),
    otherClientCert: f("other-client.pem"),
    otherClientKey: f("other-client.key"),
    selfSignedCert: f("self.pem"),
    selfSignedKey: f("self.key"),
  };
}

// --- the core library as plain JS for child processes ----------------------------------

/**
 * Compiles packages/core/src with tsc into a temp dir keyed by the sources'
 * hash (reused while they do not change) and returns its index.js. Child
 * processes (the logging check, the soak) then run the code under test rather
 * than a possibly stale packages/core/dist.
 */
export async function buildCore(): Promise<string> {
  const fs = await import("node:fs/promises");
  const os = await import("node:os");
  const { createHash } = await import("node:crypto");
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const core = path.join(REPO_ROOT, "packages", "core");
  const hash = createHash("sha256");
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        hash.update(p);
        hash.update(await fs.readFile(p));
      }
    }
  };
  await walk(path.join(core, "src"));
  const out = path.join(os.tmpdir(), `aiomsg-reliability-core-${hash.digest("hex").slice(0, 16)}`);
  const entry = path.join(out, "index.js");
  try {
    await fs.access(entry);
    return entry;
  } catch {
    /* build it */
  }
  const tmp = `${out}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await promisify(execFile)(process.execPath, [
    path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"),
    "-p", path.join(core, "tsconfig.build.json"),
    "--outDir", tmp, "--declaration", "false", "--declarationMap", "false", "--sourceMap", "false",
  ]);
  await fs.writeFile(path.join(tmp, "package.json"), '{ "type": "module" }\n');
  await fs.symlink(path.join(core, "node_modules"), path.join(tmp, "node_modules"), "dir");
  try {
    await fs.rename(tmp, out);
  } catch {
    await fs.rm(tmp, { recursive: true, force: true }); // another worker won the race
  }
  return entry;
}

// --- WebSocket client bytes, by hand (RFC 6455) ----------------------------------------

export function wsUpgradeRequest(key = randomBytes(16).toString("base64"), extraHeaders = ""): Buffer {
  return Buffer.from(
    `GET /aiomsg HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    "latin1",
  );
}

/** One client frame; `mask` null sends it unmasked (forbidden for clients). */
export function wsFrame(opcode: number, payload: Uint8Array, mask: Uint8Array | null = randomBytes(4), fin = true): Buffer {
  const len = payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 0x10000) head.push(maskBit | 126, len >> 8, len & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), mask ? Buffer.from(mask) : Buffer.alloc(0), body]);
}
