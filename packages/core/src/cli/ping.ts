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

function probe(addr: Address, protocol: ProtocolOption, tlsOpts: tls.ConnectionOptions | undefined, timeoutMs: number, identity: Buffer): Promise<PingResult> {
  return new Promise<PingResult>((resolve, reject) => {
    const start = performance.now();
    let connectedAt = 0;
    let spokeAt = 0;
    let greeted = false;
    let finished = false;
    let extra = 0;
    let autoTimer: NodeJS.Timeout | undefined;
    const where = formatAddress(addr);
    const sock: net.Socket = tlsOpts
      ? tls.connect({ host: addr.host, port: addr.port, servername: net.isIP(addr.host) ? undefined : addr.host, ...tlsOpts })
      : net.connect({ host: addr.host, port: addr.port });
    const timer = setTimeout(() => {
      finish(new ProbeError(connectedAt
        ? `${where}: connected, but no aiomsg greeting within ${timeoutMs / 1000} s`
        : `${where}: no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);

    function finish(result: PingResult | Error): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(autoTimer);
      if (result instanceof Error) {
        sock.destroy();
        reject(result);
        return;
      }
      // Hang up politely; a peer that never closes its side is cut off shortly after.
      sock.end();
      setTimeout(() => sock.destroy(), 200).unref();
      sock.once("close", () => resolve({ ...result, framesAfterGreeting: extra }));
    }
    const helloV1 = (): void => {
      spokeAt = performance.now();
      sock.write(encodeFrame(v1.hello(identity)));
    };
    const greetLegacy = (): void => void sock.write(encodeFrame(identity));

    const decoder = new FrameDecoder((body) => {
      if (greeted) {
        extra++;
        return;
      }
      greeted = true;
      decoder.limit = undefined;
      const at = performance.now();
      const legacyGreeting = body.length === LEGACY_GREETING;
      // A v1 HELLO may be longer than 18 bytes (reserved tail, ignored).
      const v1Greeting = body.length >= v1.HELLO_SIZE && body[0] === 0x01;
      let dialect: "v1" | "legacy";
      if (protocol === "v1" || (protocol === "auto" && spokeAt > 0)) {
        if (!v1Greeting) {
          return finish(new ProbeError(legacyGreeting
            ? `${where}: the peer greeted with a 16-byte identity: it speaks the 2019 (legacy) wire; use --protocol legacy or auto`
            : `${where}: expected a v1 HELLO, got a ${body.length}-byte frame`));
        }
        dialect = "v1";
      } else if (protocol === "legacy") {
        if (!legacyGreeting) {
          return finish(new ProbeError(v1Greeting
            ? `${where}: the peer sent a v1 HELLO: it speaks the v1 wire; use --protocol v1 or auto`
            : `${where}: expected a 16-byte 2019 identity, got a ${body.length}-byte frame`));
        }
        dialect = "legacy";
      } else {
        // auto, and the peer spoke first.
        if (legacyGreeting) {
          greetLegacy();
          dialect = "legacy";
        } else if (v1Greeting) {
          helloV1();
          dialect = "v1";
        } else {
          return finish(new ProbeError(`${where}: the peer's first frame (${body.length} bytes) is neither a v1 HELLO nor a 2019 identity`));
        }
      }
      if (dialect === "v1") {
        const hello = v1.decode(body);
        if (hello.type !== "hello" || hello.version !== v1.PROTOCOL_VERSION) {
          return finish(new ProbeError(`${where}: the peer's HELLO has version ${body[1]}, not ${v1.PROTOCOL_VERSION}`));
        }
      }
      const from = dialect === "v1" && spokeAt > connectedAt ? spokeAt : connectedAt;
      finish({
        address: where,
        identity: (dialect === "v1" ? body.subarray(2, v1.HELLO_SIZE) : body).toString("hex"),
        dialect,
        rttMs: at - from,
        connectMs: connectedAt - start,
        tls: Boolean(tlsOpts),
        framesAfterGreeting: 0,
      });
    }, 16 * 1024 * 1024);
    // A greeting is a handshake frame: bounded like a socket's.
    decoder.limit = {
      size: MAX_HELLO_SIZE,
      refuse: (length) => new ProtocolError("ERR_AIOMSG_BAD_HELLO", `the peer's first frame (${length} bytes) is longer than any handshake (at most ${MAX_HELLO_SIZE} bytes)`),
    };

    sock.once(tlsOpts ? "secureConnect" : "connect", () => {
      connectedAt = performance.now();
      if (protocol === "v1") helloV1();
      else if (protocol === "legacy") greetLegacy();
      else autoTimer = setTimeout(() => void (!greeted && helloV1()), AUTO_WAIT_MS);
    });
    sock.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        finish(new ProbeError(`${where}: ${(err as Error).message}`));
      }
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      const what = err.code === "ECONNREFUSED" ? "connection refused" : err.code === "ENOTFOUND" ? "host not found" : err.message;
      finish(new ProbeError(`${where}: ${what}`));
    });
    sock.on("close", () => {
      let why = `${where}: connection closed`;
      if (connectedAt && protocol === "legacy") {
        why = `${where}: the peer closed the connection without greeting (a 2019 bind end greets first: this looks like a v1 peer; try --protocol v1 or auto)`;
      } else if (connectedAt) {
        why = `${where}: the peer closed the connection before its greeting (a v1 bind end closes on a HELLO it refuses)`;
      }
      finish(new ProbeError(why));
    });
  });
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
