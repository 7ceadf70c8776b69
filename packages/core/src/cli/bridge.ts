/**
 * `aiomsg-ts bridge`: relay every message between two sockets, both ways, for
 * example a 2019 (legacy) fleet on one side and v1 services on the other. On a
 * terminal it keeps a live status line; otherwise it writes plain log lines.
 */
import { AiomsgError, Socket, type ProtocolOption } from "../index.js";
import { formatAddress, parseAddress, type Address } from "./address.js";
import { HANDSHAKE_HELP, connectTo, handshakeFlag, logBackoff } from "./endpoints.js";
import {
  bindTls, choice, CliFailure, CliUsageError, COMMON_HELP, connectTls, onStop, parseFlags, protocolFlag, secondsFlag,
  tlsFlags, type Command, type FlagValues, type TlsFlags,
} from "./common.js";

const HELP = `Usage: aiomsg-ts bridge (--from ADDR | --from-bind ADDR) (--to ADDR | --to-bind ADDR) [flags]

Relay every message received on one side to the other side, both ways.
ADDR is host:port or tcp://host:port; a connect end also takes ws://host:port/path
and wss://host:port/path (WebSocket; wss:// verifies certificates, --tls-ca to
trust a private CA). A bind end serves WebSocket clients on its port already.

  --from ADDR, --to ADDR          connect that side to a bind end at ADDR
  --from-bind ADDR, --to-bind ADDR
                                  listen on ADDR for that side's peers instead
  --protocol P                    wire of both sides: v1 (default), legacy, early or auto
  --from-protocol P, --to-protocol P
                                  one side's wire (overrides --protocol)
  --mode M                        how each side sends: roundrobin (default) or publish
  --at-least-once                 each side resends until acknowledged (not with publish)
  --tls-side from|to|both         the side(s) the TLS flags apply to (default both)
  --stats-interval S              without a terminal: a stats line every S seconds when
                                  traffic moved (default 10; 0: only at exit)
${HANDSHAKE_HELP}
${COMMON_HELP}

On a terminal, stdout shows peer events and a status line (peers per side and
wire, messages each way, rate over the last second), redrawn 4 times a second.
Otherwise stdout gets one log line per event and the stats lines.
SIGINT/SIGTERM: close both sides (up to 2 s for undelivered messages), print the
totals and exit 0.`;

interface SideSpec {
  name: "from" | "to";
  addr: Address;
  bind: boolean;
  protocol: ProtocolOption | undefined;
}

function side(values: FlagValues, name: "from" | "to", common: ProtocolOption | undefined): SideSpec {
  const connect = values[name] as string | undefined;
  const bind = values[`${name}-bind`] as string | undefined;
  if ((connect === undefined) === (bind === undefined)) {
    throw new CliUsageError(`give exactly one of --${name} ADDR (connect) or --${name}-bind ADDR (listen)`);
  }
  return {
    name,
    addr: connect !== undefined ? parseAddress(connect, `--${name}`) : parseAddress(bind!, `--${name}-bind`, "bind"),
    bind: bind !== undefined,
    protocol: protocolFlag(values[`${name}-protocol`] as string | undefined, `--${name}-protocol`) ?? common,
  };
}

/** Messages relayed one way, and the rate over about the last second (sampled every TICK_MS). */
class Flow {
  count = 0;
  private samples: Array<[number, number]> = [[Date.now(), 0]];
  sample(now: number): void {
    this.samples.push([now, this.count]);
    while (this.samples.length > 2 && now - this.samples[1]![0] >= 1000) this.samples.shift();
  }
  rate(now: number): number {
    const [t0, c0] = this.samples[0]!;
    return now - t0 > 0 ? ((this.count - c0) * 1000) / (now - t0) : 0;
  }
}

const TICK_MS = 250;

function peerSummary(sock: Socket, dialects: Map<string, string>): string {
  const n = sock.peerCount;
  const by = new Map<string, number>();
  for (const id of sock.peerIdentities) {
    const d = dialects.get(id.toString("hex")) ?? "?";
    by.set(d, (by.get(d) ?? 0) + 1);
  }
  const parts = [...by].sort().map(([d, c]) => `${d} ${c}`).join(", ");
  return `${n} peer${n === 1 ? "" : "s"}${n ? ` (${parts})` : ""}`;
}

interface BridgeConfig {
  specs: readonly [SideSpec, SideSpec];
  mode: "publish" | "roundrobin";
  reliable: boolean;
  tlsSide: "from" | "to" | "both";
  statsMs: number;
  tls: TlsFlags | undefined;
  handshake: { handshakeTimeout?: number };
}

const FLAGS = {
  from: { type: "string" },
  to: { type: "string" },
  "from-bind": { type: "string" },
  "to-bind": { type: "string" },
  "from-protocol": { type: "string" },
  "to-protocol": { type: "string" },
  mode: { type: "string" },
  "at-least-once": { type: "boolean" },
  "tls-side": { type: "string" },
  "stats-interval": { type: "string" },
  "handshake-timeout": { type: "string" },
} as const;

/** The bridge's flags, checked; undefined once --help is printed. */
function parseBridge(argv: string[]): BridgeConfig | undefined {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return undefined;
  }
  if (positionals.length) throw new CliUsageError(`unexpected argument ${positionals[0]}`);
  const common = protocolFlag(values.protocol as string | undefined);
  const specs = [side(values, "from", common), side(values, "to", common)] as const;
  const mode = choice(values.mode as string | undefined, ["publish", "roundrobin"] as const, "--mode") ?? "roundrobin";
  const reliable = Boolean(values["at-least-once"]);
  if (reliable && mode === "publish") throw new CliUsageError("--at-least-once cannot be combined with --mode publish");
  const tlsSide = choice(values["tls-side"] as string | undefined, ["from", "to", "both"] as const, "--tls-side") ?? "both";
  const statsMs = secondsFlag(values["stats-interval"] as string | undefined, "--stats-interval") ?? 10_000;
  return { specs, mode, reliable, tlsSide, statsMs, tls: tlsFlags(values), handshake: handshakeFlag(values) };
}

/** stdout: on a terminal, event lines above a status line that is redrawn; otherwise timestamped lines. */
class Screen {
  readonly tty = Boolean(process.stdout.isTTY);
  status = "";

  line(text: string): void {
    if (this.tty) process.stdout.write(`\r\x1b[2K${text}\n${this.status}`);
    else process.stdout.write(`${new Date().toISOString()} ${text}\n`);
  }

  redraw(status: string): void {
    const cols = process.stdout.columns || 80;
    this.status = status.slice(0, cols - 1);
    process.stdout.write(`\r\x1b[2K${this.status}`);
  }
}

/** One side's socket; its peer events and errors (each distinct error once in a row) go to the screen. */
function sideSocket(s: SideSpec, cfg: BridgeConfig, screen: Screen, dialects: Map<string, string>): Socket {
  const out = (line: string): void => screen.line(line);
  const sock = new Socket({
    protocol: s.protocol,
    sendMode: cfg.mode,
    deliveryGuarantee: cfg.reliable ? "at-least-once" : "at-most-once",
    ...cfg.handshake,
  });
  sock.on("peerConnected", (p) => {
    dialects.set(p.identity.toString("hex"), p.protocol);
    out(`${s.name}: peer ${p.identity.toString("hex")} connected (${p.protocol}${p.transport === "ws" || p.transport === "wss" ? ` over ${p.transport}` : ""}, ${p.remote})`);
  });
  sock.on("peerDisconnected", (p) => out(`${s.name}: peer ${p.identity.toString("hex")} disconnected (${p.reason?.code ?? "orderly"})`));
  let lastErr = "";
  sock.on("peerConnected", () => void (lastErr = ""));
  sock.on("error", (e) => {
    if (sock.closed) return; // a dial that close() cut at exit
    const text = `${e.code}: ${e.message}`;
    if (text !== lastErr) out(`${s.name}: ${text}`);
    lastErr = text;
  });
  logBackoff(sock, (text) => out(`${s.name}: ${text}`));
  return sock;
}

/** Bind or connect one side; on failure both sockets are closed first. */
async function openSide(s: SideSpec, sock: Socket, socks: Socket[], cfg: BridgeConfig, screen: Screen): Promise<void> {
  const t: TlsFlags | undefined = cfg.tlsSide === "both" || cfg.tlsSide === s.name ? cfg.tls : undefined;
  const closeAll = (): Promise<unknown> => Promise.all(socks.map((x) => x.close({ linger: 0 })));
  if (s.bind) {
    let port = s.addr.port;
    sock.once("listening", (l) => (port = l.port));
    const opts = bindTls(t);
    try {
      await sock.bind(s.addr.host, s.addr.port, opts ? { tls: opts } : {});
    } catch (err) {
      await closeAll();
      if (err instanceof AiomsgError) throw new CliFailure(`${s.name}: ${err.code}: ${err.message}`);
      throw new CliFailure(`${s.name}: cannot listen on ${formatAddress(s.addr)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    screen.line(`${s.name}: listening on ${formatAddress({ host: s.addr.host, port })} (${s.protocol ?? "v1"})`);
  } else {
    const opts = connectTls(t);
    try {
      await connectTo(sock, s.addr, opts);
    } catch (err) {
      await closeAll();
      throw err;
    }
    screen.line(`${s.name}: connecting to ${formatAddress(s.addr)} (${s.protocol ?? "v1"})`);
  }
}

/** The status: peers per side and wire, messages and rate each way, drops. */
function statusLine(socks: readonly [Socket, Socket], dialects: Map<string, string>, flows: readonly [Flow, Flow], dropped: number[], now: number): string {
  const [ft, tf] = flows;
  return [
    `from ${peerSummary(socks[0], dialects)}`,
    `to ${peerSummary(socks[1], dialects)}`,
    `from→to ${ft.count} (${ft.rate(now).toFixed(0)}/s)`,
    `to→from ${tf.count} (${tf.rate(now).toFixed(0)}/s)`,
    ...(dropped[0]! + dropped[1]! > 0 ? [`dropped ${dropped[0]! + dropped[1]!}`] : []),
  ].join(" | ");
}

/**
 * Every tick samples both flows (for the rates); on a terminal it also
 * redraws, otherwise it logs a stats line every statsMs when traffic moved.
 * Returns the interval timer.
 */
function startTicker(screen: Screen, statsMs: number, flows: readonly [Flow, Flow], line: (now: number) => string): NodeJS.Timeout {
  let lastStats = Date.now();
  let lastTotal = 0;
  const tick = (): void => {
    const now = Date.now();
    for (const f of flows) f.sample(now);
    if (screen.tty) {
      screen.redraw(line(now));
    } else if (statsMs > 0 && now - lastStats >= statsMs) {
      lastStats = now;
      const total = flows[0].count + flows[1].count;
      if (total !== lastTotal) screen.line(`stats ${line(now)}`);
      lastTotal = total;
    }
  };
  tick();
  return setInterval(tick, Math.min(TICK_MS, statsMs || TICK_MS));
}

async function pump(src: Socket, dst: Socket, flow: Flow): Promise<void> {
  for await (const msg of src.messages()) {
    await dst.send(msg);
    flow.count++;
  }
}

async function run(argv: string[]): Promise<number> {
  const cfg = parseBridge(argv);
  if (cfg === undefined) return 0;
  const screen = new Screen();
  const dialects = new Map<string, string>();
  const socks = cfg.specs.map((s) => sideSocket(s, cfg, screen, dialects)) as [Socket, Socket];
  const dropped = [0, 0];
  socks.forEach((sock, i) => sock.on("dropped", () => dropped[i]!++));
  for (const [i, s] of cfg.specs.entries()) await openSide(s, socks[i]!, socks, cfg, screen);

  const flows = [new Flow(), new Flow()] as const; // [from->to, to->from]
  const line = (now: number): string => statusLine(socks, dialects, flows, dropped, now);
  const ticker = startTicker(screen, cfg.statsMs, flows, line);
  let stopping = false;
  const pumps = Promise.all([pump(socks[0], socks[1], flows[0]), pump(socks[1], socks[0], flows[1])]).catch((err: Error) => {
    // After a stop, a send racing the close is expected to fail.
    if (!stopping) screen.line(`relay stopped: ${err.message}`);
  });

  await new Promise<void>((resolve) => onStop(() => resolve()));
  stopping = true;
  clearInterval(ticker);
  await Promise.all(socks.map((s) => s.close()));
  await pumps;
  screen.status = "";
  screen.line(`stopped: ${line(Date.now())}`);
  return 0;
}

export const bridgeCommand: Command = { name: "bridge", summary: "relay messages between two sockets, both ways (live status on a terminal)", help: HELP, run };
