#!/usr/bin/env node
// Runs the differential fidelity suite (suite.mjs) and prints its table: each
// case and role with Python's outcome, TS's outcome, and MATCH, a named
// departure, a pinned and reported FINDING, or DIFFERENCE. Exits 1 if any case
// is a DIFFERENCE.
//
//   node interop/fidelity/run.mjs [--filter TEXT] [--concurrency N]
//        [--release v1=2026.7.1,legacy=2019.12.3,early=2019.5.0]
//        [--markdown FILE] [--json FILE]
import { writeFile } from "node:fs/promises";
import { fidelityMarkdown, summary } from "./report.mjs";
import { DEFAULT_RELEASES, runFidelity } from "./suite.mjs";

const opts = { filter: undefined, concurrency: 4, releases: { ...DEFAULT_RELEASES }, markdown: undefined, json: undefined };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = () => argv[++i];
  if (a === "--filter") opts.filter = v();
  else if (a === "--concurrency") opts.concurrency = Number(v());
  else if (a === "--release") for (const kv of v().split(",")) {
    const [k, ver] = kv.split("=");
    if (!(k in DEFAULT_RELEASES) || !ver) {
      console.error(`run.mjs: --release takes dialect=version pairs (${Object.keys(DEFAULT_RELEASES).join(", ")})`);
      process.exit(2);
    }
    opts.releases[k] = ver;
  }
  else if (a === "--markdown") opts.markdown = v();
  else if (a === "--json") opts.json = v();
  else {
    console.error(`run.mjs: unknown argument ${a}`);
    process.exit(2);
  }
}

const result = await runFidelity({ ...opts, log: (l) => process.stderr.write(`${l}\n`) });
for (const r of result.rows) {
  console.log(`${r.verdict.padEnd(10)} ${r.id} [${r.role}]${r.departure ? ` (${r.departure})` : ""}${r.verdict === "FINDING" ? ` (${r.why})` : ""}`);
  if (r.verdict === "DIFFERENCE") {
    console.log(`    python: ${r.pyText}`);
    console.log(`    ts:     ${r.tsText}`);
    console.log(`    ${r.why}`);
  }
}
console.log(`\n${summary(result)}`);
if (opts.markdown) await writeFile(opts.markdown, fidelityMarkdown(result));
if (opts.json) await writeFile(opts.json, `${JSON.stringify(result, null, 2)}\n`);
process.exit(result.rows.some((r) => r.verdict === "DIFFERENCE") ? 1 : 0);
