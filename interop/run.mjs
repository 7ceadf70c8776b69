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
//                   (docker-compose.yml at the repo root; needs a Docker engine)
//   --ts-as-python  harness self-test: a Python agent stands in for every TS agent
import { execa } from "execa";
import { rm } from "node:fs/promises";
import path from "node:path";
import { Env, mapLimit, REPO_ROOT, runScenario } from "./lib/harness.mjs";
import { provisionAll } from "./lib/python.mjs";
import { requirements, selectScenarios } from "./lib/scenarios.mjs";
import { makeTestPki } from "./lib/tls.mjs";

function parseArgs(argv) {
  const opts = { filter: undefined, wire: "all", concurrency: 4, docker: false, list: false, tsAsPython: false };
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
    "usage: node interop/run.mjs [--filter <substring>] [--wire v1|legacy|all] [--concurrency N] [--docker] [--list] [--ts-as-python]",
  );
  process.exit(error ? 2 : 0);
}

async function prepareDocker() {
  const info = await execa("docker", ["info", "--format", "{{.ServerVersion}}"], { reject: false });
  if (info.failed || info.exitCode !== 0) {
    const why = (info.stderr || info.shortMessage || "").trim().split("\n").slice(-3).join(" ");
    console.error(`run.mjs --docker: no usable Docker engine (\`docker info\` failed: ${why})`);
    console.error("Start a Docker engine (or run without --docker to use local Python venvs).");
    process.exit(2);
  }
  const version = await execa("docker", ["compose", "version"], { reject: false });
  if (version.failed || version.exitCode !== 0) {
    console.error("run.mjs --docker: the `docker compose` plugin (Compose v2) is not installed");
    process.exit(2);
  }
  const compose = path.join(REPO_ROOT, "docker-compose.yml");
  console.error(`[interop] docker engine ${info.stdout.trim()}: building images from ${compose}`);
  await execa("docker", ["compose", "-f", compose, "--profile", "interop", "build"], { stdio: "inherit" });
}

function table(results) {
  const rows = results.map((r) => [r.name, r.ok ? "PASS" : "FAIL", String(r.messages), r.seconds.toFixed(1)]);
  const head = ["scenario", "result", "messages", "seconds"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row) => `| ${row.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  return [fmt(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(fmt)].join("\n");
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
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
  if (opts.docker) await prepareDocker();
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
