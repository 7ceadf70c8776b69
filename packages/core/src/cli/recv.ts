/** `aiomsg-ts recv`: print each received message on its own line. */
import { decode as msgpackDecode } from "@msgpack/msgpack";
import { Socket } from "../index.js";
import {
  choice, COMMON_HELP, delay, countFlag, identityFlag, note, onStop, parseFlags, protocolFlag, tlsFlags, writeOut,
  CliUsageError, type Command,
} from "./common.js";
import { ENDPOINT_OPTIONS, HANDSHAKE_HELP, endpointFlags, handshakeFlag, logPeers, openEndpoints } from "./endpoints.js";

const HELP = `Usage: aiomsg-ts recv (--connect ADDR | --bind ADDR)... [flags]

Print every message received, one per line, on stdout.
ADDR is host:port or tcp://host:port; a connect end also takes ws://host:port/path
and wss://host:port/path (WebSocket; wss:// verifies certificates, --tls-ca to
trust a private CA). A bind end serves WebSocket clients on its port already.

  --connect ADDR         connect to a bind end (reconnects by itself); may repeat
  --bind ADDR            listen for peers (port 0: any free port, printed on stderr); may repeat
  --count N              exit 0 after printing N messages (default: until interrupted)
  --format F             text (UTF-8, default), hex, json (the payload is JSON; printed on
                         one line), msgpack (the payload is MessagePack; printed as JSON)
  --show-identity        prefix each line with the sender's identity (32 hex chars) and a space
  --identity HEX         this socket's identity (default: random)
  -q, --quiet            no peer lines on stderr
${HANDSHAKE_HELP}
${COMMON_HELP}

A text payload containing a newline spans several lines: use --format hex or json then.
A payload that --format cannot decode is reported on stderr and skipped (not counted).
SIGINT/SIGTERM or a closed stdout: close cleanly and exit 0.`;

const ACK_GRACE_MS = 100;

type Format = "text" | "hex" | "json" | "msgpack";

function render(payload: Buffer, format: Format): string {
  switch (format) {
    case "text":
      return payload.toString("utf8");
    case "hex":
      return payload.toString("hex");
    case "json":
      return JSON.stringify(JSON.parse(payload.toString("utf8")));
    case "msgpack":
      return JSON.stringify(msgpackDecode(payload), (_k, v: unknown) => {
        if (typeof v === "bigint") return v.toString();
        if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
        return v;
      });
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...ENDPOINT_OPTIONS,
    count: { type: "string" },
    format: { type: "string" },
    "show-identity": { type: "boolean" },
    identity: { type: "string" },
    quiet: { type: "boolean", short: "q" },
  }, true);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (positionals.length) throw new CliUsageError(`unexpected argument ${positionals[0]}`);
  const endpoints = endpointFlags(values);
  const count = countFlag(values.count as string | undefined, "--count");
  const format = choice(values.format as string | undefined, ["text", "hex", "json", "msgpack"] as const, "--format") ?? "text";
  const tls = tlsFlags(values);
  const identity = identityFlag(values.identity as string | undefined);
  const protocol = protocolFlag(values.protocol as string | undefined);
  const say = (t: string): void => (values.quiet ? undefined : note("recv", t));

  const sock = new Socket({ protocol, identity, ...handshakeFlag(values) });
  logPeers(sock, say);
  const stopper = new AbortController();
  onStop(() => stopper.abort());
  for (const addr of await openEndpoints(sock, endpoints, tls)) note("recv", `listening on ${addr}`);

  // --count counts messages printed: one that --format cannot decode is reported and skipped, not counted.
  let received = 0;
  let printed = 0;
  try {
    if (count === 0) return 0;
    for await (const [from, payload] of sock.identityMessages({ signal: stopper.signal })) {
      received++;
      let text: string;
      try {
        text = render(payload, format);
      } catch (err) {
        note("recv", `message ${received} (${payload.length} bytes) is not ${format}, skipped (not counted): ${(err as Error).message}`);
        continue;
      }
      await writeOut(values["show-identity"] ? `${from.toString("hex")} ${text}\n` : `${text}\n`);
      printed++;
      if (count !== undefined && printed >= count) break;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_AIOMSG_ABORTED") throw err;
  } finally {
    // At-least-once peers get their last acknowledgements (sent ackDelay, 20 ms,
    // after delivery) before the socket goes; close() cuts off unwritten ones.
    if (received > 0) await delay(ACK_GRACE_MS);
    await sock.close();
  }
  return 0;
}

export const recvCommand: Command = { name: "recv", summary: "print received messages, one per line", help: HELP, run };
