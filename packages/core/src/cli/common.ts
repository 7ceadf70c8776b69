/**
 * What every subcommand shares: the exit-code contract (0 success, 1 failure,
 * 2 usage), flag parsing, --protocol and the TLS flags, signals, and output
 * that behaves in a pipe.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import type * as tls from "node:tls";
import type { ProtocolOption } from "../index.js";

/** Bad command line: exit 2. */
export class CliUsageError extends Error {}
/** The command ran and failed: exit 1. */
export class CliFailure extends Error {}

export interface Command {
  name: string;
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

export const COMMON_HELP = `Common flags:
  --protocol v1|legacy|early|auto
                              wire dialect (default v1: Python aiomsg 2026.7.1; legacy:
                              2019.5.2-2019.12.3; early: 2018.8.1-2019.5.0; auto: any)
  --tls                       use TLS (implied by any --tls-* flag)
  --tls-ca FILE               connect: trust this CA; bind: require client certificates signed by it
  --tls-cert FILE, --tls-key FILE
                              bind: the server certificate; connect: a client certificate (mutual TLS)
  --tls-server-name NAME      connect: the name to verify (default: the host)
  -h, --help                  this help`;

export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  protocol: { type: "string" },
  tls: { type: "boolean" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-server-name": { type: "string" },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** node:util parseArgs with its errors turned into usage errors. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(argv: string[], options: Options, allowPositionals = false): { values: FlagValues; positionals: string[] } {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals, strict: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === "string" && e.code.startsWith("ERR_PARSE_ARGS")) throw new CliUsageError(e.message);
    throw err;
  }
}

export function choice<T extends string>(value: string | undefined, choices: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new CliUsageError(`${flag} must be one of ${choices.join(", ")}, not ${JSON.stringify(value)}`);
  }
  return value as T;
}

export function protocolFlag(value: string | undefined, flag = "--protocol"): ProtocolOption | undefined {
  return choice(value, ["v1", "legacy", "early", "auto"] as const, flag);
}

/** A non-negative number of seconds, returned in milliseconds. */
export function secondsFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new CliUsageError(`${flag} must be a number of seconds >= 0, not ${JSON.stringify(value)}`);
  return n * 1000;
}

export function countFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliUsageError(`${flag} must be a whole number >= 0, not ${JSON.stringify(value)}`);
  return Number(value);
}

export function identityFlag(value: string | undefined, flag = "--identity"): Buffer | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[0-9a-fA-F]{32}$/.test(value)) throw new CliUsageError(`${flag} must be 32 hex characters (16 bytes)`);
  return Buffer.from(value, "hex");
}

// --- TLS -------------------------------------------------------------------------

export interface TlsFlags {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliUsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** undefined: plain TCP. */
export function tlsFlags(values: Record<string, unknown>): TlsFlags | undefined {
  const any = values.tls || values["tls-ca"] || values["tls-cert"] || values["tls-key"] || values["tls-server-name"];
  if (!any) return undefined;
  if (Boolean(values["tls-cert"]) !== Boolean(values["tls-key"])) {
    throw new CliUsageError("--tls-cert and --tls-key go together");
  }
  const out: TlsFlags = {};
  if (values["tls-ca"]) out.ca = readPem(values["tls-ca"] as string, "--tls-ca");
  if (values["tls-cert"]) out.cert = readPem(values["tls-cert"] as string, "--tls-cert");
  if (values["tls-key"]) out.key = readPem(values["tls-key"] as string, "--tls-key");
  if (values["tls-server-name"]) out.serverName = values["tls-server-name"] as string;
  return out;
}

/** A TLS server; a CA means mutual TLS (clients must present a certificate it signed). */
export function bindTls(t: TlsFlags | undefined): tls.TlsOptions | undefined {
  if (!t) return undefined;
  if (!t.cert || !t.key) throw new CliUsageError("a TLS bind needs --tls-cert and --tls-key");
  const out: tls.TlsOptions = { cert: t.cert, key: t.key };
  if (t.ca) Object.assign(out, { ca: t.ca, requestCert: true, rejectUnauthorized: true });
  return out;
}

/** A verifying TLS client (system CAs unless --tls-ca); cert/key for mutual TLS. */
export function connectTls(t: TlsFlags | undefined): tls.ConnectionOptions | undefined {
  if (!t) return undefined;
  const out: tls.ConnectionOptions = {};
  if (t.ca) out.ca = t.ca;
  if (t.cert) Object.assign(out, { cert: t.cert, key: t.key });
  if (t.serverName) out.servername = t.serverName;
  return out;
}

// --- process -----------------------------------------------------------------------

/** Diagnostics go to stderr, never stdout. */
export function note(cmd: string, text: string): void {
  process.stderr.write(`aiomsg-ts ${cmd}: ${text}\n`);
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Write to stdout, waiting for the pipe to drain (a slow reader slows the command). */
export async function writeOut(text: string): Promise<void> {
  // A reader that went away (`| head`) is a stop (see onStop), not a crash.
  if (process.stdout.destroyed || process.stdout.writableEnded) return;
  if (process.stdout.write(text)) return;
  try {
    await once(process.stdout, "drain");
  } catch (err) {
    if (!isClosedPipe(err)) throw err;
  }
}

function isClosedPipe(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

/**
 * SIGINT/SIGTERM call `stop` once (a clean shutdown); a second signal exits at
 * once. A closed stdout (`| head`) also stops.
 */
export function onStop(stop: (why: string) => void): void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    stop(sig);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (isClosedPipe(err)) {
      if (!stopping) {
        stopping = true;
        stop("EPIPE");
      }
    } else throw err;
  });
}

/** Resolves after `ms`, early when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
