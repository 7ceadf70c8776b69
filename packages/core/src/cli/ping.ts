/**
 * `aiomsg-ts ping`: handshake with a bind end and report who answered.
 *
 * This speaks the handshake itself over a plain (or TLS) connection, with the
 * package's exported codecs (encodeFrame, FrameDecoder, v1.hello/decode),
 * instead of a Socket: a probe must not look like a peer that stays, it must
 * time the greeting, and it must tell the operator which wire the peer speaks
 * when it is not the one asked for.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { randomBytes } from "node:crypto";
import { encodeFrame, FrameDecoder, MAX_HELLO_SIZE, ProtocolError, v1, type ProtocolOption } from "../index.js";
import { formatAddress, parseAddress, type Address } from "./address.js";
import {
  CliUsageError, COMMON_HELP, connectTls, countFlag, delay, identityFlag, note, parseFlags, protocolFlag,
  secondsFlag, tlsFlags, writeOut, type Command,
} from "./common.js";

const HELP = `Usage: aiomsg-ts ping ADDR [flags]

Connect to the bind end at ADDR, do the aiomsg handshake, print the peer's
identity, wire dialect and round-trip time, and hang up. Exit 0 when every
probe was answered, 1 otherwise (refused, no greeting within --timeout, wrong
wire), 2 on a usage error: usable as a container health check.
ADDR is host:port or tcp://host:port (ping probes over raw TCP or TLS; a bind end
serves WebSocket on the same port).

  --count N          probes, each on a new connection (default 1)
  --interval S       seconds between probes (default 1)
  --timeout S        give up on a probe after S seconds (default 3)
  --json             one JSON object per probe instead of a text line
  --identity HEX     the identity this probe announces (default: a fresh random one)
${COMMON_HELP}

rtt: from the moment the connection is up (after TLS, with TLS) to the peer's
greeting: one round trip through the network and the peer's event loop. A v1
bind end answers our HELLO; a 2019 bind end greets as soon as it accepts. With
--protocol auto the probe waits 500 ms for a 2019 greeting before it speaks v1
(that wait is not counted). The peer sees a connection that handshakes and
closes at once: a round-robin sender may pick it for a message in that instant.`;

const AUTO_WAIT_MS = 500;
const LEGACY_GREETING = 16;

export interface PingResult {
  address: string;
  identity: string;
  dialect: "v1" | "legacy";
  rttMs: number;
  connectMs: number;
  tls: boolean;
  /** Data frames the peer sent before the probe hung up (they are not delivered anywhere). */
  framesAfterGreeting: number;
}

class ProbeError extends Error {}

type Dialect = PingResult["dialect"];

/** What a peer's first frame looks like: a 2019 identity, a v1 HELLO (which may be longer than 18 bytes: reserved tail, ignored), or neither. */
function greetingKind(body: Buffer): Dialect | undefined {
  if (body.length === LEGACY_GREETING) return "legacy";
  if (body.length >= v1.HELLO_SIZE && body[0] === 0x01) return "v1";
  return undefined;
}

/**
 * The dialect of the peer's greeting, and whether the probe must answer it
 * (auto, when the peer spoke first); a greeting in another wire than the one
 * asked for throws, saying which wire the peer speaks.
 */
function judgeGreeting(body: Buffer, protocol: ProtocolOption, spoke: boolean, where: string): { dialect: Dialect; answer: boolean } {
  const kind = greetingKind(body);
  if (protocol === "v1" || (protocol === "auto" && spoke)) {
    if (kind === "v1") return { dialect: "v1", answer: false };
    throw new ProbeError(kind === "legacy"
      ? `${where}: the peer greeted with a 16-byte identity: it speaks the 2019 (legacy) wire; use --protocol legacy or auto`
      : `${where}: expected a v1 HELLO, got a ${body.length}-byte frame`);
  }
  if (protocol === "legacy") {
    if (kind === "legacy") return { dialect: "legacy", answer: false };
    throw new ProbeError(kind === "v1"
      ? `${where}: the peer sent a v1 HELLO: it speaks the v1 wire; use --protocol v1 or auto`
      : `${where}: expected a 16-byte 2019 identity, got a ${body.length}-byte frame`);
  }
  // auto, and the peer spoke first.
  if (kind === undefined) throw new ProbeError(`${where}: the peer's first frame (${body.length} bytes) is neither a v1 HELLO nor a 2019 identity`);
  return { dialect: kind, answer: true };
}

/** Why a connection closed before the peer greeted. */
function closedWhy(where: string, connected: boolean, protocol: ProtocolOption): string {
  if (!connected) return `${where}: connection closed`;
  if (protocol === "legacy") {
    return `${where}: the peer closed the connection without greeting (a 2019 bind end greets first: this looks like a v1 peer; try --protocol v1 or auto)`;
  }
  return `${where}: the peer closed the connection before its greeting (a v1 bind end closes on a HELLO it refuses)`;
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
  private spokeAt = 0;
  private greeted = false;
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
        ? `${this.where}: connected, but no aiomsg greeting within ${timeoutMs / 1000} s`
        : `${this.where}: no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    this.decoder = new FrameDecoder((body) => this.onFrame(body), 16 * 1024 * 1024);
    // A greeting is a handshake frame: bounded like a socket's.
    this.decoder.limit = {
      size: MAX_HELLO_SIZE,
      refuse: (length) => new ProtocolError("ERR_AIOMSG_BAD_HELLO", `the peer's first frame (${length} bytes) is longer than any handshake (at most ${MAX_HELLO_SIZE} bytes)`),
    };
    this.sock.once(tlsOpts ? "secureConnect" : "connect", () => this.onConnect());
    this.sock.on("data", (chunk: Buffer) => {
      try {
        this.decoder.push(chunk);
      } catch (err) {
        this.finish(new ProbeError(`${this.where}: ${(err as Error).message}`));
      }
    });
    this.sock.on("error", (err: NodeJS.ErrnoException) => this.finish(new ProbeError(`${this.where}: ${errnoWhat(err)}`)));
    this.sock.on("close", () => this.finish(new ProbeError(closedWhy(this.where, this.connectedAt > 0, this.protocol))));
  }

  private onConnect(): void {
    this.connectedAt = performance.now();
    if (this.protocol === "v1") this.helloV1();
    else if (this.protocol === "legacy") this.greetLegacy();
    else this.autoTimer = setTimeout(() => void (!this.greeted && this.helloV1()), AUTO_WAIT_MS);
  }

  private helloV1(): void {
    this.spokeAt = performance.now();
    this.sock.write(encodeFrame(v1.hello(this.identity)));
  }

  private greetLegacy(): void {
    this.sock.write(encodeFrame(this.identity));
  }

  private onFrame(body: Buffer): void {
    if (this.greeted) {
      this.extra++;
      return;
    }
    this.greeted = true;
    this.decoder.limit = undefined;
    const at = performance.now();
    let dialect: Dialect;
    try {
      const judged = judgeGreeting(body, this.protocol, this.spokeAt > 0, this.where);
      dialect = judged.dialect;
      if (judged.answer) dialect === "v1" ? this.helloV1() : this.greetLegacy();
      if (dialect === "v1") {
        const hello = v1.decode(body);
        if (hello.type !== "hello" || hello.version !== v1.PROTOCOL_VERSION) {
          throw new ProbeError(`${this.where}: the peer's HELLO has version ${body[1]}, not ${v1.PROTOCOL_VERSION}`);
        }
      }
    } catch (err) {
      if (!(err instanceof ProbeError)) throw err;
      return this.finish(err);
    }
    const from = dialect === "v1" && this.spokeAt > this.connectedAt ? this.spokeAt : this.connectedAt;
    this.finish({
      address: this.where,
      identity: (dialect === "v1" ? body.subarray(2, v1.HELLO_SIZE) : body).toString("hex"),
      dialect,
      rttMs: at - from,
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
  return `${r.address}: ${r.dialect} peer ${r.identity} rtt ${ms(r.rttMs)} (${r.tls ? "tcp+tls" : "tcp"} connect ${ms(r.connectMs)})`;
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    count: { type: "string" },
    interval: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
    identity: { type: "string" },
  }, true);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliUsageError(positionals.length ? `one ADDR, not ${positionals.length}` : "ADDR is missing (host:port)");
  const addr = parseAddress(positionals[0]!, "ADDR", "probe");
  const count = countFlag(values.count as string | undefined, "--count") ?? 1;
  if (count < 1) throw new CliUsageError("--count must be at least 1");
  const intervalMs = secondsFlag(values.interval as string | undefined, "--interval") ?? 1000;
  const timeoutMs = secondsFlag(values.timeout as string | undefined, "--timeout") ?? 3000;
  if (timeoutMs <= 0) throw new CliUsageError("--timeout must be above 0");
  const protocol = protocolFlag(values.protocol as string | undefined) ?? "v1";
  const tlsOpts = connectTls(tlsFlags(values));
  const fixedId = identityFlag(values.identity as string | undefined);

  let failed = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) await delay(intervalMs);
    try {
      const r = await probe(addr, protocol, tlsOpts, timeoutMs, fixedId ?? randomBytes(16));
      const rounded = { ...r, rttMs: Math.round(r.rttMs * 1000) / 1000, connectMs: Math.round(r.connectMs * 1000) / 1000 };
      await writeOut(values.json ? `${JSON.stringify(rounded)}\n` : `${line(r)}\n`);
      if (r.framesAfterGreeting > 0) {
        note("ping", `the peer sent ${r.framesAfterGreeting} frame(s) to the probe before it hung up: messages routed to it are lost (at-most-once) or resent (at-least-once)`);
      }
    } catch (err) {
      if (!(err instanceof ProbeError)) throw err;
      failed++;
      note("ping", err.message);
    }
  }
  return failed === 0 ? 0 : 1;
}

export const pingCommand: Command = { name: "ping", summary: "handshake with a peer: identity, dialect, round-trip time", help: HELP, run };
