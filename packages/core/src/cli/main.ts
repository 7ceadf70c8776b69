#!/usr/bin/env node
/**
 * The `aiomsg-ts` executable: one subcommand per file in this folder. Exit
 * status 0 success, 1 failure, 2 usage error (a bad flag or address).
 */
import { agentCommand } from "./agent.js";
import { bridgeCommand } from "./bridge.js";
import { pingCommand } from "./ping.js";
import { recvCommand } from "./recv.js";
import { sendCommand } from "./send.js";
import { CliFailure, CliUsageError, type Command } from "./common.js";

const COMMANDS: Command[] = [recvCommand, sendCommand, bridgeCommand, pingCommand, agentCommand];

const USAGE = `Usage: aiomsg-ts <command> [flags]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join("\n")}

Run 'aiomsg-ts <command> --help' for a command's flags.
Exit status: 0 success, 1 failure, 2 usage error.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const target = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(`${target ? target.help : USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`aiomsg-ts: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(`aiomsg-ts ${cmd.name}: ${err.message}\nRun 'aiomsg-ts ${cmd.name} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof CliFailure) {
      process.stderr.write(`aiomsg-ts ${cmd.name}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`aiomsg-ts ${cmd.name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

process.on("unhandledRejection", (err) => {
  process.stderr.write(`aiomsg-ts: unhandled rejection: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
process.exit(await main(process.argv.slice(2)));
