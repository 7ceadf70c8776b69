/**
 * `aiomsg-ts ping`: handshake with a bind end and report who answered.
 *
 * This speaks the handshake itself over a plain (or TLS) connection, with the
 * package's exported codecs (encodeFrame, FrameDecoder, v1.hello/decode),
 * instead of a Socket: a probe must not look like a peer that stays, it must
 * time the greeting, and it must tell the operator which wire the peer speaks
 * when it is not the one asked for. Given a name that stands for many
 * replicas (--all, or srv://), it probes every address behind it (the
 * resolution connect() uses when it follows a name: transports/dns.ts).
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { randomBytes } from "node:crypto";
import { bodies, early, encodeFrame, FrameDecoder, MAX_HELLO_SIZE, ProtocolError, v1, type DialectName, type ProtocolOption } from "../index.js";
import { classifyFirstFrame } from "../wire/dialects.js";
import { notAGreeting, notAiomsg } from "../connection.js";
import { tlsPortProbe } from "../transports/node.js";
import { formatAddress, parseAddress, type Address } from "./address.js";
import { defaultResolver, resolveHost, resolveSrv } from "../transports/dns.js";
import type { ResolvedAddress } from "../replicas.js";
import {
  CliUsageError, COMMON_HELP, connectTls, countFlag, delay, identityFlag, note, parseFlags, protocolFlag,
  secondsFlag, tlsFlags, writeOut, type Command,
} from "./common.js";

const HELP = `Usage: aiomsg-ts ping ADDR [flags]
       aiomsg-ts ping --all host:port [flags]
       aiomsg-ts ping srv://_service._tcp.name [flags]

Connect to the bind end at ADDR, do the aiomsg handshake, print the peer's
identity, wire dialect and round-trip time, and hang up. Exit 0 when every
probe was answered, 1 otherwise (refused, no greeting within --timeout, wrong
wire), 2 on a usage error: usable as a container health check.
ADDR is host:port or tcp://host:port (ping probes over raw TCP or TLS; a bind end
serves WebSocket on the same port).

A name for many replicas: with --all, every A and AAAA record of host is
probed on port; srv://NAME probes every address of every SRV record of NAME
on the record's port (DNS servers of /etc/resolv.conf, as connect() with
{ resolve: "all" } and srv:// do; /etc/hosts is not read). One line per
address, each naming the target; exit 0 only when every address answered (a
readiness probe for the whole service); a name that does not resolve is
ERR_AIOMSG_RESOLVE_FAILED, exit 1.

  --count N          probes, each on a new connection (default 1)
  --interval S       seconds between probes (default 1)
  --timeout S        give up on a probe after S seconds (default 3)
  --json             one JSON object per probe instead of a text line
  --identity HEX     the identity this probe announces (default: a fresh random one)
  --all              probe every address behind the host name (A and AAAA records)
${COMMON_HELP}

rtt: from the last bytes the probe wrote before the peer's greeting (or the
connection being up, after TLS, when the peer greets first) to that greeting:
one round trip through the network and the peer's event loop. A v1 bind end
answers our HELLO (Python 2026.7.1: our first byte); legacy and early bind
ends greet as soon as they accept. With --protocol auto the probe writes
00 00 00 at once (the start of every generation's handshake frame), answers a
greeting in its generation, and speaks v1 when a TS bind end sends 00 00 00
back, or after 500 ms of silence (that wait is not counted). The peer sees a
connection that handshakes and closes at once: a round-robin sender may pick
it for a message in that instant.`;

const AUTO_WAIT_MS = 500;
/** The first bytes of every generation's handshake frame (see connection.ts). */
const WAKE = Buffer.from([0, 0, 0]);

export interface PingResult {
  address: string;
  /** The name probed with --all or srv://, each of whose addresses gets a result. */
  target?: string;
  identity: string;
  dialect: DialectName;
  rttMs: number;
  connectMs: number;
  tls: boolean;
  /** Data frames the peer sent before the probe hung up (they are not delivered anywhere). */
  framesAfterGreeting: number;
}

class ProbeError extends Error {}

/**
 * The dialect of the peer's greeting (docs/protocol.md "Telling the generations
 * apart" for auto); a greeting in another wire than the one asked for throws,
 * saying which wire the peer speaks.
 */
function judgeGreeting(body: Buffer, protocol: ProtocolOption, where: string): DialectName {
  const kind = classifyFirstFrame(body);
  if (kind === undefined) throw new ProbeError(`${where}: ERR_AIOMSG_NOT_AIOMSG: the peer's first frame is empty: not an aiomsg greeting`);
  if (protocol === "auto") return kind;
  if (protocol === "v1") {
    if (kind === "v1") return "v1";
    throw new ProbeError(kind === "legacy"
      ? `${where}: the peer greeted with a ${body.length}-byte identity: it speaks the 2019 (legacy) wire; use --protocol legacy or auto`
      : `${where}: the peer greeted with UTF-8 text: it speaks the early (2018.8.1-2019.5.0) wire; use --protocol early or auto`);
  }
  if (kind === "v1") throw new ProbeError(`${where}: the peer sent a v1 HELLO: it speaks the v1 wire; use --protocol v1 or auto`);
  // A legacy identity may be any bytes (UTF-8 text too); an early one must be UTF-8.
  if (protocol === "early" && !early.isUtf8(body)) {
    throw new ProbeError(`${where}: the peer's identity (${body.length} bytes) is not UTF-8 text: it speaks the 2019 (legacy) wire; use --protocol legacy or auto`);
  }
  return protocol;
}

/** Why a connection closed before the peer greeted. */
function closedWhy(where: string, connected: boolean, protocol: ProtocolOption): string {
  if (!connected) return `${where}: connection closed`;
  if (protocol === "legacy" || protocol === "early") {
    return `${where}: the peer closed the connection without greeting (legacy and early bind ends greet first: this looks like a v1 peer; try --protocol v1 or auto)`;
  }
  return `${where}: the peer closed the connection before its greeting (a v1 bind end closes on a HELLO it refuses; a TLS port closes on plain bytes: try --tls)`;
}

function errnoWhat(err: NodeJS.ErrnoException): string {
  return err.code === "ECONNREFUSED" ? "connection refused" : err.code === "ENOTFOUND" ? "host not found" : err.message;
}

/** One probe: a connection that handshakes, is timed, and hangs up. `result` settles once. */
class Probe {
  readonly result: Promise<PingResult>;
  private resolve!: (r: PingResult) => void;
  private reject!: (e: Error) => void;
  private readonly where: string;
  private readonly sock: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly timer: NodeJS.Timeout;
  private autoTimer: NodeJS.Timeout | undefined;
  private readonly start = performance.now();
  private connectedAt = 0;
  /** When the probe last wrote before the greeting (which answers it). */
  private sentAt = 0;
  private greeted = false;
  /** auto: WAKE went first; the handshake frame's rest follows. */
  private woke = false;
  private spoke = false;
  /** auto: bytes heard before the greeting, and whether all were zero (WAKE sent back). */
  private heard = 0;
  /** Any byte came from the peer. */
  private gotBytes = false;
  private heardZeros = true;
  private finished = false;
  /** Frames after the greeting (not delivered anywhere). */
  private extra = 0;

  constructor(
    addr: Address,
    private readonly protocol: ProtocolOption,
    private readonly tlsOpts: tls.ConnectionOptions | undefined,
    timeoutMs: number,
    private readonly identity: Buffer,
  ) {
    this.result = new Promise<PingResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.where = formatAddress(addr);
    this.sock = tlsOpts
      ? tls.connect({ host: addr.host, port: addr.port, servername: net.isIP(addr.host) ? undefined : addr.host, ...tlsOpts })
      : net.connect({ host: addr.host, port: addr.port });
    this.timer = setTimeout(() => {
      this.finish(new ProbeError(this.connectedAt
        ? `${this.where}: ERR_AIOMSG_NOT_AIOMSG: connected, but no aiomsg greeting within ${timeoutMs / 1000} s${this.spoke ? " of the probe's greeting" : ""}: not an aiomsg bind end, or a stuck one`
        : `${this.where}: no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    this.decoder = new FrameDecoder(bodies((body) => this.onFrame(body)), 16 * 1024 * 1024);
    // A greeting is a handshake frame: bounded like a socket's.
    this.decoder.limit = {
      size: MAX_HELLO_SIZE,
      // Another protocol's opening (HTTP, TLS) is named as such, before "a frame of 1213486160 bytes".
      foreign: (prefix) => notAiomsg(prefix, tlsOpts ? "tls" : "tcp") ?? notAGreeting(prefix),
      refuse: (length) => new ProtocolError("ERR_AIOMSG_NOT_AIOMSG", `the peer's first frame (${length} bytes) is longer than any aiomsg greeting (at most ${MAX_HELLO_SIZE} bytes): not an aiomsg bind end`),
    };
    this.sock.once(tlsOpts ? "secureConnect" : "connect", () => this.onConnect());
    this.sock.on("data", (chunk: Buffer) => {
      this.gotBytes = true;
      if (this.woke && !this.spoke) {
        for (let i = 0; i < chunk.length && this.heard <= WAKE.length; i++) {
          this.heard++;
          if (chunk[i] !== 0) this.heardZeros = false;
        }
      }
      try {
        this.decoder.push(chunk);
      } catch (err) {
        this.finish(new ProbeError(`${this.where}: ${err instanceof ProtocolError ? `${err.code}: ` : ""}${(err as Error).message}`));
      }
      // WAKE alone: a TS v1 or auto bind end waits for our HELLO.
      if (this.woke && !this.spoke && !this.greeted && this.heard === WAKE.length && this.heardZeros) this.speak("v1");
    });
    this.sock.on("error", (err: NodeJS.ErrnoException) => this.finish(new ProbeError(`${this.where}: ${errnoWhat(err)}`)));
    this.sock.on("close", () => {
      if (this.finished) return;
      const why = closedWhy(this.where, this.connectedAt > 0, this.protocol);
      // Hung up on in silence over plain TCP: a TLS port closes so; ask it.
      if (this.connectedAt > 0 && !this.gotBytes && !tlsOpts) {
        void tlsPortProbe({ scheme: "tcp", host: addr.host, port: addr.port, path: "/" }, new Set()).then((found) =>
          this.finish(new ProbeError(found ? `${this.where}: ERR_AIOMSG_NOT_AIOMSG: a TLS port, and the probe spoke plain TCP: add --tls` : why)),
        );
        return;
      }
      this.finish(new ProbeError(why));
    });
  }

  private onConnect(): void {
    this.connectedAt = performance.now();
    this.sentAt = this.connectedAt;
    if (this.protocol !== "auto") {
      this.speak(this.protocol);
      return;
    }
    this.sock.write(WAKE);
    this.woke = true;
    this.autoTimer = setTimeout(() => void (!this.greeted && this.speak("v1")), AUTO_WAIT_MS);
  }

  /** Write this probe's handshake frame in `dialect` (its rest, after WAKE). */
  private speak(dialect: DialectName): void {
    if (this.spoke) return;
    this.spoke = true;
    clearTimeout(this.autoTimer);
    const body = dialect === "v1" ? v1.hello(this.identity) : dialect === "early" ? early.hello(this.identity) : this.identity;
    const frame = encodeFrame(body);
    this.sock.write(this.woke ? frame.subarray(WAKE.length) : frame);
    if (!this.greeted) this.sentAt = performance.now();
  }

  private onFrame(body: Buffer): void {
    if (this.greeted) {
      this.extra++;
      return;
    }
    this.greeted = true;
    this.decoder.limit = undefined;
    const at = performance.now();
    let dialect: DialectName;
    let peerId: Buffer;
    try {
      dialect = judgeGreeting(body, this.protocol, this.where);
      if (dialect === "v1") {
        if (body.length < v1.HELLO_SIZE) throw new ProbeError(`${this.where}: the peer's HELLO is ${body.length} bytes, shorter than ${v1.HELLO_SIZE}`);
        if (body[1] !== v1.PROTOCOL_VERSION) throw new ProbeError(`${this.where}: the peer's HELLO has version ${body[1]}, not ${v1.PROTOCOL_VERSION}`);
        peerId = body.subarray(2, v1.HELLO_SIZE);
      } else {
        peerId = dialect === "early" ? early.identityFromText(body) : body;
      }
    } catch (err) {
      if (!(err instanceof ProbeError)) throw err;
      return this.finish(err);
    }
    // The bind end greeted first (legacy, early, or Python v1 on WAKE): answer it, as a peer would.
    this.speak(dialect);
    this.finish({
      address: this.where,
      identity: peerId.toString("hex"),
      dialect,
      rttMs: at - this.sentAt,
      connectMs: this.connectedAt - this.start,
      tls: Boolean(this.tlsOpts),
      framesAfterGreeting: 0,
    });
  }

  private finish(result: PingResult | Error): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    clearTimeout(this.autoTimer);
    if (result instanceof Error) {
      this.sock.destroy();
      this.reject(result);
      return;
    }
    // Hang up politely; a peer that never closes its side is cut off shortly after.
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 200).unref();
    this.sock.once("close", () => this.resolve({ ...result, framesAfterGreeting: this.extra }));
  }
}

function probe(addr: Address, protocol: ProtocolOption, tlsOpts: tls.ConnectionOptions | undefined, timeoutMs: number, identity: Buffer): Promise<PingResult> {
  return new Probe(addr, protocol, tlsOpts, timeoutMs, identity).result;
}

function line(r: PingResult): string {
  const ms = (v: number): string => `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ms`;
  return `${r.target === undefined ? "" : `${r.target} `}${r.address}: ${r.dialect} peer ${r.identity} rtt ${ms(r.rttMs)} (${r.tls ? "tcp+tls" : "tcp"} connect ${ms(r.connectMs)})`;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    count: { type: "string" },
    interval: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    identity: { type: "string" },
    all: { type: "boolean" },
  }, true);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError(positionals.length ? `one ADDR, not ${positionals.length}` : "ADDR is missing (host:port)");
  const text = positionals[0]!;
  const srv = /^srv:\/\/([^/:?#\s]+)\/?$/i.exec(text);
  if (/^srv:/i.test(text) && !srv) throw new CliUsageError(`ADDR ${text}: srv:// takes a name only (the records give the ports): srv://_aiomsg._tcp.example`);
  const addr: Address | undefined = srv ? undefined : parseAddress(text, "ADDR", "probe");
  const count = countFlag(values.count as string | undefined, "--count") ?? 1;
  if (count < 1) throw new CliUsageError("--count must be at least 1");
  const intervalMs = secondsFlag(values.interval as string | undefined, "--interval") ?? 1000;
  const timeoutMs = secondsFlag(values.timeout as string | undefined, "--timeout") ?? 3000;
  if (timeoutMs <= 0) throw new CliUsageError("--timeout must be above 0");
  const protocol = protocolFlag(values.protocol as string | undefined) ?? "v1";
  const tlsOpts = connectTls(tlsFlags(values));
  const fixedId = identityFlag(values.identity as string | undefined);

  // A name for many replicas: every address behind it, resolved once.
  let targets: Array<{ addr: Address; target?: string; servername?: string }> = [{ addr: addr! }];
  if (srv || values.all) {
    const target = srv ? `srv://${srv[1]}` : formatAddress(addr!);
    let found: ResolvedAddress[];
    try {
      const resolver = defaultResolver();
      found = srv ? await resolveSrv(resolver, srv[1]!, "both") : await resolveHost(resolver, addr!.host, addr!.port, "both");
      if (found.length === 0) throw Object.assign(new Error("no addresses"), { code: "ENODATA" });
    } catch (err) {
      note("ping", `${target}: ERR_AIOMSG_RESOLVE_FAILED: ${(err as { code?: string }).code ?? (err as Error).message}`);
      return 1;
    }
    targets = found.map((a) => ({ addr: { scheme: "tcp", host: a.host, port: a.port, path: "/" }, target, servername: a.name }));
  }

  let failed = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) await delay(intervalMs);
    for (const t of targets) failed += await probeOnce(t, values.json === true);
  }
  return failed === 0 ? 0 : 1;

  async function probeOnce(t: { addr: Address; target?: string; servername?: string }, json: boolean): Promise<number> {
    const withName = tlsOpts && t.servername !== undefined ? { servername: t.servername, ...tlsOpts } : tlsOpts;
    try {
      const probed = await probe(t.addr, protocol, withName, timeoutMs, fixedId ?? randomBytes(16));
      const r = t.target === undefined ? probed : { ...probed, target: t.target };
      const rounded = { ...r, rttMs: Math.round(r.rttMs * 1000) / 1000, connectMs: Math.round(r.connectMs * 1000) / 1000 };
      await writeOut(json ? `${JSON.stringify(rounded)}\n` : `${line(r)}\n`);
      if (r.framesAfterGreeting > 0) {
        note("ping", `the peer sent ${r.framesAfterGreeting} frame(s) to the probe before it hung up: messages routed to it are lost (at-most-once) or resent (at-least-once)`);
      }
      return 0;
    } catch (err) {
      if (!(err instanceof ProbeError)) throw err;
      note("ping", t.target === undefined ? err.message : `${t.target}: ${err.message}`);
      return 1;
    }
  }
}

export const pingCommand: Command = { name: "ping", summary: "handshake with a peer: identity, dialect, round-trip time", help: HELP, run };
