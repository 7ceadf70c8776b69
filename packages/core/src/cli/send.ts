/** `aiomsg-ts send`: send messages and exit once they are written (or acknowledged, with --at-least-once). */
import { createInterface } from "node:readline";
import { Socket, type DroppedMessage } from "../index.js";
import {
  choice, CliFailure, CliUsageError, COMMON_HELP, countFlag, identityFlag, note, parseFlags, protocolFlag,
  secondsFlag, tlsFlags, type Command, type FlagValues, type TlsFlags,
} from "./common.js";
import { ENDPOINT_OPTIONS, HANDSHAKE_HELP, endpointFlags, handshakeFlag, logPeers, openEndpoints, type Endpoints } from "./endpoints.js";

const HELP = `Usage: aiomsg-ts send (--connect ADDR | --bind ADDR)... [flags] [MESSAGE...]

Send each MESSAGE (UTF-8), or each line of stdin when no MESSAGE is given, then
exit 0 once every message is acknowledged by a peer (--at-least-once) or
written: handed to the kernel for a peer's connection, the write completed
without error (at-most-once cannot know more). A message lost on the way (the
write failed, the peer went) is reported with its error code, and exit 1.
ADDR is host:port or tcp://host:port; a connect end also takes ws://host:port/path
and wss://host:port/path (WebSocket; wss:// verifies certificates, --tls-ca to
trust a private CA). A bind end serves WebSocket clients on its port already.

  --connect ADDR        connect to a bind end; may repeat
  --bind ADDR           listen and send to the peers that connect; may repeat
  --mode M              roundrobin (default: each message to the next peer) or publish (every peer)
  --at-least-once       resend until acknowledged (not with publish)
  --peers N             wait for N connected peers before sending (default 0: messages
                        wait in the socket for the first peer)
  --timeout S           give up after S seconds (default 10; 0: never): a send that waits
                        S seconds for room, or messages not yet written S seconds after
                        the input ended (or S seconds waiting for --peers), exit 1
  --identity HEX        this socket's identity (default: random)
  -q, --quiet           no peer lines on stderr
${HANDSHAKE_HELP}
${COMMON_HELP}`;

const FLAGS = {
  ...ENDPOINT_OPTIONS,
  mode: { type: "string" },
  "at-least-once": { type: "boolean" },
  peers: { type: "string" },
  timeout: { type: "string" },
  identity: { type: "string" },
  quiet: { type: "boolean", short: "q" },
} as const;

interface SendConfig {
  values: FlagValues;
  endpoints: Endpoints;
  tls: TlsFlags | undefined;
  /** The messages given as arguments; none: read stdin lines. */
  messages: string[];
  mode: "publish" | "roundrobin";
  reliable: boolean;
  peersWanted: number;
  /** --timeout in ms (0: never). */
  timeoutMs: number;
  /** The same as a timer delay (never: the longest one). */
  limit: number;
}

/** The flags, checked; undefined once --help is printed. */
function parseSend(argv: string[]): SendConfig | undefined {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return undefined;
  }
  const endpoints = endpointFlags(values);
  const mode = choice(values.mode as string | undefined, ["publish", "roundrobin"] as const, "--mode") ?? "roundrobin";
  const reliable = Boolean(values["at-least-once"]);
  if (reliable && mode === "publish") throw new CliUsageError("--at-least-once cannot be combined with --mode publish (acknowledgements are per peer)");
  const peersWanted = countFlag(values.peers as string | undefined, "--peers") ?? 0;
  const timeoutMs = secondsFlag(values.timeout as string | undefined, "--timeout") ?? 10_000;
  const limit = timeoutMs === 0 ? 2 ** 31 - 1 : timeoutMs;
  return { values, endpoints, tls: tlsFlags(values), messages: positionals, mode, reliable, peersWanted, timeoutMs, limit };
}

/** Whether `n` peers are connected within `limit` ms. */
function waitForPeers(sock: Socket, n: number, limit: number): Promise<boolean> {
  if (sock.peerCount >= n) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const t = setTimeout(() => done(false), limit);
    const on = (): void => void (sock.peerCount >= n && done(true));
    function done(v: boolean): void {
      clearTimeout(t);
      sock.off("peerConnected", on);
      resolve(v);
    }
    sock.on("peerConnected", on);
  });
}

/**
 * Send the arguments, or each stdin line; resolves to how many were sent. A
 * send that waits `limit` ms for room calls `stalled` (one timer, refreshed
 * per message).
 */
async function sendInputs(sock: Socket, messages: string[], limit: number, stalled: () => Promise<never>): Promise<number> {
  const stall = new AbortController();
  const stallTimer = setTimeout(() => stall.abort(), limit);
  let total = 0;
  const sendOne = async (text: string): Promise<void> => {
    total++;
    stallTimer.refresh();
    try {
      await sock.send(text, { signal: stall.signal });
    } catch (err) {
      if ((err as { code?: string }).code === "ERR_AIOMSG_ABORTED") await stalled();
      throw err;
    }
  };
  if (messages.length) {
    for (const m of messages) await sendOne(m);
  } else {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const line of lines) await sendOne(line);
  }
  clearTimeout(stallTimer);
  return total;
}

/** Why the run failed: how many messages were lost, why, their codes and (up to 3) the errors that cost them. */
function lossMessage(dropped: DroppedMessage[], total: number, everConnected: number, cfg: SendConfig): string {
  const done = cfg.reliable ? "acknowledged" : "written";
  const why = everConnected === 0
    ? "no peer connected"
    : cfg.reliable
      ? "not acknowledged"
      : "not written to a peer";
  const codes = [...new Set(dropped.map((d) => d.code))];
  const head = codes.every((c) => c === "ERR_AIOMSG_CLOSE_LINGER") ? `timed out after ${cfg.timeoutMs / 1000} s: ` : "";
  // The error that cost them, once per distinct cause (a reset, a refused frame).
  const causes = [...new Set(dropped.flatMap((d) => (d.reason ? [`${d.reason.code}: ${d.reason.message}`] : [])))];
  const cause = causes.length > 0 ? ` [${causes.slice(0, 3).join("; ")}]` : "";
  return `${head}${dropped.length} of ${total} messages not ${done} (${why}; ${codes.join(", ")})${cause}`;
}

async function run(argv: string[]): Promise<number> {
  const cfg = parseSend(argv);
  if (cfg === undefined) return 0;
  const { values, limit } = cfg;
  const seconds = `${cfg.timeoutMs / 1000} s`;
  const say = (t: string): void => (values.quiet ? undefined : note("send", t));

  const sock = new Socket({
    protocol: protocolFlag(values.protocol as string | undefined),
    identity: identityFlag(values.identity as string | undefined),
    sendMode: cfg.mode,
    deliveryGuarantee: cfg.reliable ? "at-least-once" : "at-most-once",
    ...handshakeFlag(values),
  });
  logPeers(sock, say);
  const dropped: DroppedMessage[] = [];
  sock.on("dropped", (d) => dropped.push(d));
  let everConnected = 0;
  sock.on("peerConnected", () => everConnected++);
  for (const addr of await openEndpoints(sock, cfg.endpoints, cfg.tls)) note("send", `listening on ${addr}`);

  const fail = async (why: string): Promise<never> => {
    await sock.close({ linger: 0 });
    throw new CliFailure(why);
  };
  if (cfg.peersWanted > 0 && !(await waitForPeers(sock, cfg.peersWanted, limit))) {
    await fail(`timed out after ${seconds}: ${sock.peerCount} of ${cfg.peersWanted} peers connected`);
  }
  const total = await sendInputs(sock, cfg.messages, limit, () =>
    fail(`timed out after ${seconds}: no room to send (${sock.peerCount} peers connected, not taking messages)`),
  );

  // close() waits up to linger for delivery and reports what it gave up on.
  await sock.close({ linger: limit });
  if (dropped.length > 0) throw new CliFailure(lossMessage(dropped, total, everConnected, cfg));
  say(`${cfg.reliable ? "acknowledged" : "written"} ${total} message${total === 1 ? "" : "s"}`);
  return 0;
}

export const sendCommand: Command = { name: "send", summary: "send messages (arguments or stdin lines), exit once written or acknowledged", help: HELP, run };
