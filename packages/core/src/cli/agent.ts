/**
 * `aiomsg-ts agent`: the conformance agent (docs/protocol.md "Conformance
 * agent CLI contract"), the same contract as interop/python/agent.py, so any two agents
 * of the aiomsg family can be paired. Flags are `--flag value`; booleans are
 * the strings true/false.
 *
 * stdout carries only received payloads (one UTF-8 line each). Progress goes to
 * stderr as `EVENT <name> [args]` lines, the vocabulary of python/agent.py:
 *   EVENT ready <port[,port...]>            bind/connect returned (bind: the bound port)
 *   EVENT peer-connected <hex> <protocol>   handshake done ("v1", "legacy" or "early")
 *   EVENT peer-disconnected <hex> <reason>  that peer's connection is gone (error code or "orderly")
 *   EVENT dropped <code> <hex|-> <payload>  the socket gave up on a message
 *   EVENT sent <n>                          source/request queued its last message
 *   EVENT relayed <n>                       relay forwarded its n-th (last) message
 *   EVENT done                              the behaviour finished; closing down
 */
import { readFileSync } from "node:fs";
import type * as tls from "node:tls";
import { Socket, type SocketOptions } from "../index.js";
import { CliUsageError, type Command } from "./common.js";

export const AGENT_HELP = `Usage: aiomsg-ts agent --role bind|connect --behavior source|sink|echo|request|relay [--flag value]...

The aiomsg conformance agent (the CLI contract every aiomsg implementation shares).
stdout: each received payload on its own line; stderr: diagnostics and EVENT lines.

Contract flags:
  --role bind|connect            (required)
  --behavior source|sink|echo    (required) source sends PREFIX0..PREFIX(count-1); sink prints
                                 count payloads and exits; echo returns count messages to their sender
  --host H, --port P             address (default 127.0.0.1 25000)
  --send-mode publish|roundrobin (default roundrobin)
  --count N                      (default 10) a sink with --count 0 exits at once
  --prefix S                     (default m)
  --delivery at-most-once|at-least-once
  --identity HEX                 32 hex chars; empty or absent: generate one
  --linger S                     seconds a source/echo stays up after its last send (default 1)
  --tls true|false               bind: --tls-cert/--tls-key; connect: trusts --tls-ca,
  --tls-cert F, --tls-key F,     optional --tls-server-name
  --tls-ca F, --tls-server-name N
Extensions:
  --forever true|false           sink/request: keep printing until killed, whatever --count
  --protocol v1|legacy|early|auto  wire dialect of the socket (default v1)
  --ports p1,p2,...              bind on / connect to every listed port with one socket
  --wait-peers N                 source/request/relay: wait for N peers before starting
  --interval S                   source/request: pause S seconds between sends
  --pause-after K --pause S      source/request: stay silent S seconds after the K-th send
  --heartbeat-interval MS, --heartbeat-timeout MS
  --behavior request             send like a source and print replies like a sink (count replies)
  --behavior relay               forward each message from one peer to every other peer, by
                                 identity; exits after forwarding count messages and lingering
  -h, --help                     this help
Exit status: 0 done, 1 failure, 2 usage error, 3 close did not finish within 5 s.`;

interface FlagSpec {
  choices?: string[];
  required?: boolean;
  int?: boolean;
  float?: boolean;
  default?: string | number;
}

const FLAGS: Record<string, FlagSpec> = {
  role: { choices: ["bind", "connect"], required: true },
  host: { default: "127.0.0.1" },
  port: { int: true, default: 25000 },
  ports: {},
  "send-mode": { choices: ["publish", "roundrobin"], default: "roundrobin" },
  behavior: { choices: ["source", "sink", "echo", "request", "relay"], required: true },
  count: { int: true, default: 10 },
  prefix: { default: "m" },
  delivery: { choices: ["at-most-once", "at-least-once"], default: "at-most-once" },
  identity: {},
  linger: { float: true, default: 1.0 },
  tls: { choices: ["true", "false"], default: "false" },
  "tls-cert": {},
  "tls-key": {},
  "tls-ca": {},
  "tls-server-name": {},
  forever: { choices: ["true", "false"], default: "false" },
  protocol: { choices: ["v1", "legacy", "early", "auto"] },
  "wait-peers": { int: true, default: 0 },
  interval: { float: true, default: 0 },
  "pause-after": { int: true, default: -1 },
  pause: { float: true, default: 0 },
  "heartbeat-interval": { int: true },
  "heartbeat-timeout": { int: true },
};

export interface AgentArgs {
  role: "bind" | "connect";
  host: string;
  portList: number[];
  sendMode: "publish" | "roundrobin";
  behavior: "source" | "sink" | "echo" | "request" | "relay";
  count: number;
  prefix: string;
  delivery: "at-most-once" | "at-least-once";
  identity: Buffer | undefined;
  linger: number;
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServerName?: string;
  forever: boolean;
  protocol?: "v1" | "legacy" | "early" | "auto";
  waitPeers: number;
  interval: number;
  pauseAfter: number;
  pause: number;
  heartbeatInterval?: number;
  heartbeatTimeout?: number;
}

/** The flags as FLAGS describes them: checked, numbers parsed, defaults filled in. */
function readFlags(argv: string[]): Record<string, string | number> {
  const raw: Record<string, string | number> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (!flag.startsWith("--")) throw new CliUsageError(`unexpected argument ${flag}`);
    const name = flag.slice(2);
    const spec = FLAGS[name];
    if (!spec) throw new CliUsageError(`unknown flag ${flag}`);
    const value = argv[i + 1];
    if (value === undefined) throw new CliUsageError(`${flag} needs a value`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw new CliUsageError(`${flag} must be one of ${spec.choices.join(", ")}`);
    }
    let parsed: string | number = value;
    if (spec.int) {
      if (!/^-?\d+$/.test(value)) throw new CliUsageError(`${flag} must be an integer`);
      parsed = Number(value);
    } else if (spec.float) {
      parsed = Number(value);
      if (value.trim() === "" || !Number.isFinite(parsed)) throw new CliUsageError(`${flag} must be a number`);
    }
    raw[name] = parsed;
  }
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (raw[name] === undefined) {
      if (spec.required) throw new CliUsageError(`--${name} is required`);
      if (spec.default !== undefined) raw[name] = spec.default;
    }
  }
  return raw;
}

export function parseAgentArgs(argv: string[]): AgentArgs {
  const raw = readFlags(argv);
  const str = (k: string): string | undefined => (raw[k] === undefined ? undefined : String(raw[k]));
  const num = (k: string): number => raw[k] as number;
  // The contract: an empty --identity means "generate one", like an absent one.
  const idText = str("identity") ?? "";
  if (idText !== "" && !/^[0-9a-fA-F]{32}$/.test(idText)) throw new CliUsageError("--identity must be 32 hex chars");
  const args: AgentArgs = {
    role: str("role") as AgentArgs["role"],
    host: str("host")!,
    portList: [num("port")],
    sendMode: str("send-mode") as AgentArgs["sendMode"],
    behavior: str("behavior") as AgentArgs["behavior"],
    count: num("count"),
    prefix: str("prefix")!,
    delivery: str("delivery") as AgentArgs["delivery"],
    identity: idText === "" ? undefined : Buffer.from(idText, "hex"),
    linger: num("linger"),
    tls: str("tls") === "true",
    tlsCert: str("tls-cert"),
    tlsKey: str("tls-key"),
    tlsCa: str("tls-ca"),
    tlsServerName: str("tls-server-name"),
    forever: str("forever") === "true",
    protocol: str("protocol") as AgentArgs["protocol"],
    waitPeers: num("wait-peers"),
    interval: num("interval"),
    pauseAfter: num("pause-after"),
    pause: num("pause"),
    heartbeatInterval: raw["heartbeat-interval"] as number | undefined,
    heartbeatTimeout: raw["heartbeat-timeout"] as number | undefined,
  };
  if (args.count < 0) throw new CliUsageError("--count must be >= 0");
  if (args.tls && args.role === "bind" && !(args.tlsCert && args.tlsKey)) {
    throw new CliUsageError("--tls true with --role bind needs --tls-cert and --tls-key");
  }
  const ports = str("ports");
  if (ports) {
    args.portList = ports
      .split(",")
      .filter(Boolean)
      .map((p) => {
        if (!/^\d+$/.test(p)) throw new CliUsageError(`bad port ${p} in --ports`);
        return Number(p);
      });
  }
  return args;
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const event = (...parts: Array<string | number>): void => log(["EVENT", ...parts].join(" "));
const hex = (id: Uint8Array): string => Buffer.from(id).toString("hex");
const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

function readTls(args: AgentArgs, flag: "tlsCert" | "tlsKey" | "tlsCa"): Buffer {
  return readFileSync(args[flag]!);
}

function tlsOptions(args: AgentArgs): tls.TlsOptions | tls.ConnectionOptions | undefined {
  if (!args.tls) return undefined;
  if (args.role === "bind") return { cert: readTls(args, "tlsCert"), key: readTls(args, "tlsKey") };
  const opts: tls.ConnectionOptions = {};
  if (args.tlsCa) opts.ca = readTls(args, "tlsCa");
  if (args.tlsServerName) opts.servername = args.tlsServerName;
  return opts;
}

function socketOptions(args: AgentArgs): SocketOptions {
  const options: SocketOptions = { sendMode: args.sendMode, deliveryGuarantee: args.delivery };
  if (args.identity) options.identity = args.identity;
  if (args.protocol) options.protocol = args.protocol;
  if (args.heartbeatInterval !== undefined) options.heartbeatInterval = args.heartbeatInterval;
  if (args.heartbeatTimeout !== undefined) options.heartbeatTimeout = args.heartbeatTimeout;
  return options;
}

/** Connected peers by hex identity, reported as EVENT lines; `until(n)` waits for n of them. */
class Peers extends Map<string, Buffer> {
  private change = (): void => {};

  constructor(sock: Socket) {
    super();
    sock.on("peerConnected", (ev) => {
      this.set(hex(ev.identity), ev.identity);
      event("peer-connected", hex(ev.identity), ev.protocol ?? "?");
      this.change();
    });
    sock.on("peerDisconnected", (ev) => {
      const id = hex(ev.identity);
      this.delete(id);
      event("peer-disconnected", id, ev.reason?.code ?? "orderly");
      this.change();
    });
  }

  async until(n: number): Promise<void> {
    while (this.size < n) await new Promise<void>((r) => (this.change = r));
  }
}

/** Bind on or connect to every port; resolves to the ports to announce (a bind end's bound ones). */
async function openPorts(sock: Socket, args: AgentArgs): Promise<number[]> {
  const tlsOpts = tlsOptions(args);
  const ready: number[] = [];
  let boundPort: number | undefined;
  sock.on("listening", (l) => (boundPort = l.port));
  for (const port of args.portList) {
    if (args.role === "bind") {
      boundPort = undefined;
      await sock.bind(args.host, port, tlsOpts ? { tls: tlsOpts as tls.TlsOptions } : {});
      ready.push(boundPort ?? port);
    } else {
      await sock.connect(args.host, port, tlsOpts ? { tls: tlsOpts as tls.ConnectionOptions } : {});
      ready.push(port);
    }
  }
  return ready;
}

/** What a behaviour works with. */
interface Agent {
  sock: Socket;
  args: AgentArgs;
  peers: Peers;
  /** Seconds to stay up after the last receive so that its acknowledgement goes out. */
  ackGrace: number;
}

/** Send PREFIX0..PREFIX(count-1), after --wait-peers, paced by --interval and --pause-after. */
async function sendAll({ sock, args, peers }: Agent): Promise<void> {
  if (args.waitPeers > 0) await peers.until(args.waitPeers);
  for (let i = 0; i < args.count; i++) {
    await sock.send(`${args.prefix}${i}`);
    if (i + 1 === args.pauseAfter && args.pause > 0) {
      event("pausing", args.pause);
      await sleep(args.pause);
    } else if (args.interval > 0) {
      await sleep(args.interval);
    }
  }
  event("sent", args.count);
}

/** Print `count` payloads (every one with --forever), one UTF-8 line each. */
async function receiveAndPrint({ sock, args }: Agent, count: number): Promise<void> {
  const decoder = new TextDecoder();
  for (let n = 0; args.forever || n < count; n++) {
    const data = await sock.recv();
    process.stdout.write(`${decoder.decode(data)}\n`);
  }
}

const BEHAVIORS: Record<AgentArgs["behavior"], (agent: Agent) => Promise<void>> = {
  async source(agent) {
    await sendAll(agent);
    await sleep(agent.args.linger);
  },
  async sink(agent) {
    await receiveAndPrint(agent, agent.args.count);
    if (agent.args.count > 0) await sleep(agent.ackGrace);
  },
  async echo({ sock, args }) {
    for (let n = 0; n < args.count; n++) {
      const [identity, data] = await sock.recvIdentity();
      await sock.send(data, { identity });
    }
    event("echoed", args.count);
    await sleep(args.linger);
  },
  async request(agent) {
    const sending = sendAll(agent);
    await receiveAndPrint(agent, agent.args.count);
    await sending;
    await sleep(Math.max(agent.args.linger, agent.ackGrace));
  },
  async relay({ sock, args, peers }) {
    if (args.waitPeers > 0) await peers.until(args.waitPeers);
    for (let n = 0; n < args.count; n++) {
      const [identity, data] = await sock.recvIdentity();
      const from = hex(identity);
      for (const [id, peer] of peers) {
        if (id !== from) await sock.send(data, { identity: peer });
      }
    }
    event("relayed", args.count);
    await sleep(args.linger);
  },
};

/** Runs one agent; resolves to the exit status. */
export async function runAgent(args: AgentArgs): Promise<number> {
  const sock = new Socket(socketOptions(args));
  const peers = new Peers(sock);
  // Network trouble is reported, never thrown: log it for the harness's diagnostics.
  sock.on("error", (err) => log(`ts-agent: socket error: ${err.code} ${err.message}`));
  sock.on("dropped", (d) =>
    event("dropped", d.code, d.identity ? hex(d.identity) : "-", Buffer.from(d.payload).toString("utf8")),
  );

  log(`ts-agent identity ${hex(sock.identity)} role ${args.role} behavior ${args.behavior} ports ${args.portList.join(",")}`);
  event("ready", (await openPorts(sock, args)).join(","));
  // docs/protocol.md: the receiver's ACK goes out ~20 ms after the payload is handed over.
  const ackGrace = args.delivery === "at-least-once" ? 0.2 : 0;
  await BEHAVIORS[args.behavior]({ sock, args, peers, ackGrace });

  event("done");
  const closed = await Promise.race([sock.close().then(() => true), sleep(5).then(() => false)]);
  if (!closed) {
    log("ts-agent: sock.close() did not finish within 5 s");
    return 3;
  }
  return 0;
}

/** The agent's own entry point (also used by interop/ts-agent.mjs): never returns. */
export async function agentMain(argv: string[]): Promise<never> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${AGENT_HELP}\n`);
    process.exit(0);
  }
  let args: AgentArgs;
  try {
    args = parseAgentArgs(argv);
  } catch (err) {
    if (err instanceof CliUsageError) {
      log(`usage error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  process.on("unhandledRejection", (err) => {
    log(`ts-agent: unhandled rejection: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  });
  try {
    process.exit(await runAgent(args));
  } catch (err) {
    log(`ts-agent: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  }
}

export const agentCommand: Command = {
  name: "agent",
  summary: "the aiomsg conformance agent (interop test peer)",
  help: AGENT_HELP,
  run: (argv) => agentMain(argv),
};
