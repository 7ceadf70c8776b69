// The conformance agent lives in the package as `aiomsg-ts agent`
// (packages/core/src/cli/agent.ts); this wrapper keeps the harness's entry point.
export { parseAgentArgs as parseArgs, runAgent as run, agentMain } from "../packages/core/dist/cli/agent.js";
import { agentMain } from "../packages/core/dist/cli/agent.js";

export const main = (argv = process.argv.slice(2)) => agentMain(argv);
