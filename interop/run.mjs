#!/usr/bin/env node
// Interop matrix runner: aiomsg-ts against real Python aiomsg.
//
//   node interop/run.mjs [--filter <substring>] [--wire v1|legacy|all]
//                        [--concurrency N] [--docker] [--list] [--ts-as-python]
//
// Provisions the Python venvs (lib/python.mjs), makes a throwaway PKI for the TLS
// scenarios (lib/tls.mjs), runs the scenarios of lib/scenarios.mjs a few at a time,
// prints a table (scenario | result | messages | seconds) and exits 1 if any failed.
//   --docker        run every agent in the docker compose services instead
//                   (docker-compose.yml at the repo root). Provisions what is missing
//                   through interop/docker/provision.sh (engine, Compose v2, base
//                   images) when run as root on Debian; otherwise says what to do.
//   --docker-ca X   CA bundle the image builds trust: auto (default: the host's),
//                   none, or a file (for TLS-intercepting proxies)
//   --json FILE     also write the results as JSON (counts, per-scenario outcome)
//   --releases all|V1,V2,...
//                   the release compatibility matrix instead (lib/releases.mjs): every
//                   aiomsg release on PyPI (or the listed ones), one cached venv each,
//                   against the TS agent in both roles; prints a table release x
//                   family x role (--markdown FILE writes it too)
//   --protocols auto,legacy,v1,early
//                   TS dialects of the release matrix (default auto)
//   --ts-as-python  harness self-test: a Python agent stands in for every TS agent
import { rm, writeFile } from "node:fs/promises";
import { Env, mapLimit, runScenario } from "./lib/harness.mjs";
import { prepareDocker } from "./lib/docker.mjs";
import { provisionAll } from "./lib/python.mjs";
import { listReleases, PROTOCOLS, releaseCounts, releaseTable, runReleases } from "./lib/releases.mjs";
import { requirements, selectScenarios } from "./lib/scenarios.mjs";
import { makeTestPki } from "./lib/tls.mjs";

function parseArgs(argv) {
  const opts = { filter: undefined, wire: "all", concurrency: 4, docker: false, dockerCa: "auto", json: undefined, releases: undefined, protocols: ["auto"], markdown: undefined, list: false, tsAsPython: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--filter") opts.filter = value();
    else if (a === "--wire") {
      opts.wire = value();
      if (!["v1", "legacy", "all"].includes(opts.wire)) usage("--wire must be v1, legacy or all");
    } else if (a === "--concurrency") {
      opts.concurrency = Number(value());
      if (!(opts.concurrency >= 1)) usage("--concurrency must be >= 1");
    } else if (a === "--docker") opts.docker = true;
    else if (a === "--docker-ca") opts.dockerCa = value();
    else if (a === "--json") opts.json = value();
    else if (a === "--releases") opts.releases = value();
    else if (a === "--protocols") {
      opts.protocols = value().split(",").map((p) => p.trim()).filter(Boolean);
      if (!opts.protocols.length || opts.protocols.some((p) => !PROTOCOLS.includes(p))) usage(`--protocols takes a list of ${PROTOCOLS.join(", ")}`);
    } else if (a === "--markdown") opts.markdown = value();
    else if (a === "--list") opts.list = true;
    else if (a === "--ts-as-python") opts.tsAsPython = true;
    else if (a === "--help" || a === "-h") usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

function usage(error) {
  if (error) console.error(`run.mjs: ${error}`);
  console.error(
    "usage: node interop/run.mjs [--filter <substring>] [--wire v1|legacy|all] [--concurrency N] [--docker [--docker-ca auto|none|FILE]] [--json FILE] [--list] [--ts-as-python]\n" +
      "       node interop/run.mjs --releases all|V1,V2,... [--protocols auto,legacy,v1,early] [--concurrency N] [--json FILE] [--markdown FILE]",
  );
  process.exit(error ? 2 : 0);
}

function table(results) {
  const rows = results.map((r) => [r.name, r.ok ? "PASS" : "FAIL", String(r.messages), r.seconds.toFixed(1)]);
  const head = ["scenario", "result", "messages", "seconds"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row) => `| ${row.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  return [fmt(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(fmt)].join("\n");
}

async function releasesMain(opts) {
  if (opts.docker) usage("--releases runs local venvs; it does not combine with --docker");
  const versions = opts.releases === "all" ? await listReleases() : opts.releases.split(",").map((v) => v.trim()).filter(Boolean);
  console.error(`[interop] aiomsg releases: ${versions.join(", ")}`);
  const pki = await makeTestPki();
  const env = new Env({ mode: "local", pki });
  const result = await runReleases(env, versions, { protocols: opts.protocols, concurrency: opts.concurrency });
  await rm(pki.dir, { recursive: true, force: true });
  const md = releaseTable(result);
  console.log(md);
  const c = releaseCounts(result);
  const byRole = Object.entries(c.by).map(([k, v]) => `${k} ${v.pass} passed, ${v.fail} failed, ${v.na} n/a`).join("; ");
  const summary =
    `${result.rows.length} releases, ${c.total} cells: ${c.pass} passed, ${c.fail} failed, ${c.na} not applicable ` +
    `(${byRole}); ${result.seconds.toFixed(1)} s (${result.runSeconds.toFixed(1)} s after provisioning, ${opts.concurrency} scenarios at a time)`;
  console.log(`\n${summary}`);
  if (opts.markdown) await writeFile(opts.markdown, `${md}\n\n${summary}\n`);
  if (opts.json) await writeFile(opts.json, `${JSON.stringify({ ...result, summary }, null, 2)}\n`);
  // Incompatibilities are findings, not errors: exit 0 whenever the matrix ran.
  return 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.releases) return releasesMain(opts);
  const scenarios = selectScenarios({ filter: opts.filter, wire: opts.wire });
  if (opts.list) {
    for (const s of scenarios) console.log(s.name);
    return 0;
  }
  if (scenarios.length === 0) {
    console.error("run.mjs: no scenario matches the filter");
    return 2;
  }
  const need = requirements(scenarios);
  if (opts.docker) {
    const d = await prepareDocker({ ca: opts.dockerCa });
    console.error(`[interop] docker backend ready in ${d.seconds.toFixed(1)} s`);
  }
  else await provisionAll(need.wires);
  const pki = need.tls ? await makeTestPki() : undefined;
  const env = new Env({ mode: opts.docker ? "docker" : "local", pki, tsAsPython: opts.tsAsPython });

  console.error(`[interop] running ${scenarios.length} scenarios, ${opts.concurrency} at a time`);
  const started = Date.now();
  const results = await mapLimit(scenarios, opts.concurrency, async (s) => {
    const r = await runScenario(env, s);
    const notes = r.notes.length ? ` (${r.notes.join("; ")})` : "";
    console.error(`[interop] ${r.ok ? "PASS" : "FAIL"} ${r.seconds.toFixed(1)}s ${r.name}${notes}`);
    return r;
  });
  if (pki) await rm(pki.dir, { recursive: true, force: true });

  console.log(table(results));
  const failed = results.filter((r) => !r.ok);
  const noted = results.filter((r) => r.notes.length);
  if (noted.length) {
    console.log("\nnotes:");
    for (const r of noted) console.log(`  ${r.name}: ${r.notes.join("; ")}`);
  }
  for (const r of failed) console.log(`\nFAILED: ${r.name}\n${r.error}`);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (opts.json) {
    const report = {
      backend: opts.docker ? "docker" : "local",
      passed: results.length - failed.length,
      failed: failed.length,
      seconds: Number(secs),
      results: results.map(({ name, ok, messages, seconds, notes, error }) => ({ name, ok, messages, seconds, notes, error })),
    };
    await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed (${secs} s)`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err?.stack ?? err);
    process.exit(1);
  },
);
