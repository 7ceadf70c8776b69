// The differential fidelity suite (interop/fidelity/) as vitest tests: raw byte
// sequences, valid and hostile, played against real Python aiomsg processes
// (2026.7.1, 2019.12.3, 2019.5.0; cached venvs from lib/python.mjs) and against
// the TS agent in the same role and dialect. One test per case and role: it
// passes when both outcomes are the same, or differ exactly as one of the
// departures the case names (interop/fidelity/departures.mjs, published in
// docs/fidelity.md), or exactly as a reported finding the case pins; any other
// difference fails with both outcomes.
//
// The TS agent imports aiomsg-ts from packages/core/dist: the root `pnpm test`
// builds first. All cases run at once in beforeAll (about half a minute).
import { beforeAll, describe, expect, it } from "vitest";
import { CASES } from "../fidelity/cases.mjs";
import { runFidelity } from "../fidelity/suite.mjs";

type Row = { id: string; role: string; verdict: string; departure?: string; why?: string; pyText: string; tsText: string };
let rows: Row[] = [];

beforeAll(async () => {
  const result = await runFidelity({ concurrency: 4 });
  rows = result.rows as Row[];
}, 300_000);

describe("fidelity: TS against Python aiomsg, byte for byte", () => {
  for (const k of CASES as Array<{ id: string; title: string; roles?: string[]; departures?: string[]; finding?: object }>) {
    for (const role of k.roles ?? ["bind", "connect"]) {
      const allowed = (k.departures?.length ? ` or departure ${k.departures.join("/")}` : "") + (k.finding ? " or its pinned finding" : "");
      it(`${k.id} [${role}] ${k.title}: MATCH${allowed}`, () => {
        const r = rows.find((x) => x.id === k.id && x.role === role);
        expect(r, "case was run").toBeDefined();
        const detail = `${r!.verdict}${r!.why ? ` (${r!.why})` : ""}\n  python: ${r!.pyText}\n  ts:     ${r!.tsText}`;
        // Only a match or an allowed departure passes: a difference, pinned as a finding or not, fails.
        expect(["MATCH", "DEPARTURE"], detail).toContain(r!.verdict);
        if (r!.verdict === "DEPARTURE") expect(k.departures).toContain(r!.departure);
      });
    }
  }
});
