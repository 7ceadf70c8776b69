// The interop matrix (interop/lib/scenarios.mjs) as vitest tests: one `it` per
// scenario, each against real Python aiomsg processes (2026.7.1 and 2019.12.3,
// provisioned into cached venvs by lib/python.mjs). Same scenarios, same
// assertions as `pnpm interop` (interop/run.mjs).
//
// The TS agents import aiomsg-ts from packages/core/dist: the root `pnpm test`
// builds first. Scenarios run concurrently (vitest's maxConcurrency); each one
// picks its own free ports, so they do not interfere.
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, it } from "vitest";
import { Env, runScenario } from "../lib/harness.mjs";
import { provisionAll } from "../lib/python.mjs";
import { allScenarios } from "../lib/scenarios.mjs";
import { makeTestPki } from "../lib/tls.mjs";

const scenarios = allScenarios();
let env: Env;
let pkiDir: string | undefined;

beforeAll(async () => {
  await provisionAll(["v1", "legacy"]);
  const pki = await makeTestPki();
  pkiDir = pki.dir;
  env = new Env({ pki });
}, 600_000);

afterAll(async () => {
  if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
});

describe.concurrent("interop: aiomsg-ts against real Python aiomsg", () => {
  for (const scenario of scenarios) {
    it(
      scenario.name,
      async () => {
        const result = await runScenario(env, scenario);
        if (result.notes.length) console.log(`${scenario.name}: ${result.notes.join("; ")}`);
        if (!result.ok) throw new Error(result.error ?? "scenario failed");
      },
      // runScenario enforces scenario.timeoutMs itself; leave room for cleanup.
      scenario.timeoutMs + 15_000,
    );
  }
});
