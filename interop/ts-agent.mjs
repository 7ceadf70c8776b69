// aiomsg conformance agent on aiomsg-ts (this repo's packages/core, built to dist).
// Implements the "Conformance agent CLI contract" of wire.md, the same contract as
// python/agent.py, so the harness can pair any two agents.
//
// stdout carries only received payloads (one UTF-8 line each). Progress goes to
// stderr as `EVENT <name> [args]` lines, the same vocabulary as python/agent.py:
//   EVENT ready <port[,port...]>            bind/connect returned (bind: the bound port)
//   EVENT peer-connected <hex> <protocol>   handshake done ("v1" or "legacy")
//   EVENT peer-disconnected <hex> <reason>  that peer's connection is gone (error code or "orderly")
//   EVENT dropped <code> <hex|-> <payload>  the socket gave up on a message
//   EVENT sent <n>                          source/request queued its last message
//   EVENT relayed <n>                       relay forwarded its n-th (last) message
//   EVENT done                              the behaviour finished; closing down
//
// A sink (or requester) with --count 0 runs until it is killed.
//
// Extensions to the contract (optional):
//   --protocol v1|legacy|auto        wire dialect of the socket
//   --ports p1,p2,...                bind on / connect to every listed port with one socket
//   --wait-peers N                   source/request/relay: wait for N peers before starting
//   --interval S                     source/request: pause S seconds between sends
//   --pause-after K --pause S        source/request: stay silent S seconds after the K-th send
//   --heartbeat-interval MS, --heartbeat-timeout MS   heartbeat tuning (ms)
//   --behavior request               send like a source AND print received payloads like a
//                                    sink; exits after `count` received
//   --behavior relay                 forward every message received from one peer to every
//                                    other connected peer (by identity); exits after
//                                    forwarding `count` messages and lingering
import { Socket } from "aiomsg-ts";
import { readFileSync } from "node:fs";

const FLAGS = {
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
  protocol: { choices: ["v1", "legacy", "auto"] },
  "wait-peers": { int: true, default: 0 },
  interval: { float: true, default: 0 },
  "pause-after": { int: true, default: -1 },
  pause: { float: true, default: 0 },
  "heartbeat-interval": { int: true },
  "heartbeat-timeout": { int: true },
};

class UsageError extends Error {}

export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flag.startsWith("--")) throw new UsageError(`unexpected argument ${flag}`);
    const name = flag.slice(2);
    const spec = FLAGS[name];
    if (!spec) throw new UsageError(`unknown flag ${flag}`);
    const value = argv[i + 1];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw new UsageError(`${flag} must be one of ${spec.choices.join(", ")}`);
    }
    let parsed = value;
    if (spec.int) {
      if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag} must be an integer`);
      parsed = Number(value);
    } else if (spec.float) {
      parsed = Number(value);
      if (!Number.isFinite(parsed)) throw new UsageError(`${flag} must be a number`);
    }
    out[name] = parsed;
  }
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (out[name] === undefined) {
      if (spec.required) throw new UsageError(`--${name} is required`);
      if (spec.default !== undefined) out[name] = spec.default;
    }
  }
  if (out.identity !== undefined && !/^[0-9a-fA-F]{32}$/.test(out.identity)) {
    throw new UsageError("--identity must be 32 hex chars");
  }
  if (out.tls === "true" && out.role === "bind" && !(out["tls-cert"] && out["tls-key"])) {
    throw new UsageError("--tls true with --role bind needs --tls-cert and --tls-key");
  }
  out.portList = out.ports
    ? out.ports.split(",").filter(Boolean).map((p) => {
        if (!/^\d+$/.test(p)) throw new UsageError(`bad port ${p} in --ports`);
        return Number(p);
      })
    : [out.port];
  return out;
}

const log = (line) => process.stderr.write(`${line}\n`);
const event = (...parts) => log(["EVENT", ...parts].join(" "));
const hex = (id) => Buffer.from(id).toString("hex");
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

function tlsOptions(args) {
  if (args.tls !== "true") return undefined;
  if (args.role === "bind") {
    return { cert: readFileSync(args["tls-cert"]), key: readFileSync(args["tls-key"]) };
  }
  const opts = {};
  if (args["tls-ca"]) opts.ca = readFileSync(args["tls-ca"]);
  if (args["tls-server-name"]) opts.servername = args["tls-server-name"];
  return opts;
}

export async function run(args) {
  const options = {
    sendMode: args["send-mode"],
    deliveryGuarantee: args.delivery,
  };
  if (args.identity) options.identity = new Uint8Array(Buffer.from(args.identity, "hex"));
  if (args.protocol) options.protocol = args.protocol;
  if (args["heartbeat-interval"] !== undefined) options.heartbeatInterval = args["heartbeat-interval"];
  if (args["heartbeat-timeout"] !== undefined) options.heartbeatTimeout = args["heartbeat-timeout"];
  const sock = new Socket(options);

  // Connected peers by hex identity; `peerChange` wakes whoever waits for a count.
  const peers = new Map();
  let peerChange = () => {};
  sock.on("peerConnected", (ev) => {
    peers.set(hex(ev.identity), ev.identity);
    event("peer-connected", hex(ev.identity), ev.protocol ?? "?");
    peerChange();
  });
  sock.on("peerDisconnected", (ev) => {
    const id = ev?.identity ? hex(ev.identity) : "?";
    peers.delete(id);
    event("peer-disconnected", id, ev?.reason?.code ?? "orderly");
    peerChange();
  });
  // Network trouble is reported, never thrown: log it for the harness's diagnostics.
  sock.on("error", (err) => log(`ts-agent: socket error: ${err?.code ?? ""} ${err?.message ?? err}`));
  sock.on("dropped", (d) => event("dropped", d.code, d.identity ? hex(d.identity) : "-", Buffer.from(d.payload).toString("utf8")));
  const waitPeers = async (n) => {
    while (peers.size < n) await new Promise((r) => (peerChange = r));
  };

  log(`ts-agent identity ${sock.identity ? hex(sock.identity) : "?"} role ${args.role} behavior ${args.behavior} ports ${args.portList}`);
  const tls = tlsOptions(args);
  const ready = [];
  for (const port of args.portList) {
    if (args.role === "bind") {
      await sock.bind(args.host, port, tls ? { tls } : {});
      ready.push(sock.port ?? port);
    } else {
      await sock.connect(args.host, port, tls ? { tls } : {});
      ready.push(port);
    }
  }
  event("ready", ready.join(","));

  const sendAll = async () => {
    if (args["wait-peers"] > 0) await waitPeers(args["wait-peers"]);
    for (let i = 0; i < args.count; i++) {
      await sock.send(`${args.prefix}${i}`);
      if (i + 1 === args["pause-after"] && args.pause > 0) {
        event("pausing", args.pause);
        await sleep(args.pause);
      } else if (args.interval > 0) {
        await sleep(args.interval);
      }
    }
    event("sent", args.count);
  };
  const receiveAndPrint = async (count) => {
    const decoder = new TextDecoder();
    for (let n = 0; count <= 0 || n < count; n++) {
      const data = await sock.recv();
      process.stdout.write(`${decoder.decode(data)}\n`);
    }
  };
  // wire.md: the receiver's ACK goes out ~20 ms after the payload is handed over.
  const ackGrace = args.delivery === "at-least-once" ? 0.2 : 0;

  switch (args.behavior) {
    case "source":
      await sendAll();
      await sleep(args.linger);
      break;
    case "sink":
      await receiveAndPrint(args.count);
      await sleep(ackGrace);
      break;
    case "echo":
      for (let n = 0; n < args.count; n++) {
        const [identity, data] = await sock.recvIdentity();
        await sock.send(data, { identity });
      }
      event("echoed", args.count);
      await sleep(args.linger);
      break;
    case "request": {
      const sending = sendAll();
      await receiveAndPrint(args.count);
      await sending;
      await sleep(Math.max(args.linger, ackGrace));
      break;
    }
    case "relay": {
      if (args["wait-peers"] > 0) await waitPeers(args["wait-peers"]);
      for (let n = 0; n < args.count; n++) {
        const [identity, data] = await sock.recvIdentity();
        const from = hex(identity);
        for (const [id, raw] of peers) {
          if (id !== from) await sock.send(data, { identity: raw });
        }
      }
      event("relayed", args.count);
      await sleep(args.linger);
      break;
    }
  }
  event("done");
  const closed = await Promise.race([
    sock.close().then(() => true),
    sleep(5).then(() => false),
  ]);
  if (!closed) {
    log("ts-agent: sock.close() did not finish within 5 s");
    return 3;
  }
  return 0;
}

export async function main(argv = process.argv.slice(2)) {
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      log(`usage error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  process.on("unhandledRejection", (err) => {
    log(`ts-agent: unhandled rejection: ${err?.stack ?? err}`);
    process.exit(1);
  });
  try {
    process.exit(await run(args));
  } catch (err) {
    log(`ts-agent: ${err?.stack ?? err}`);
    process.exit(1);
  }
}
