// Release compatibility matrix (`run.mjs --releases all|V1,V2,...`): every aiomsg
// release on PyPI, each in its own cached venv (lib/python.mjs), against the TS
// agent with --protocol legacy, v1 and auto, over a representative set of
// scenario families. The result is a table release x dialect x family where every
// cell is pass, fail (with the reason read from the agents' output) or n/a (the
// release lacks the feature; the Python agent says so and exits 4).
import { execa } from "execa";
import { freePort, mapLimit, runScenario, ScenarioError } from "./harness.mjs";
import { basePython, provisionRelease } from "./python.mjs";
import { assertLines, seq, start } from "./scenarios.mjs";

export const PROTOCOLS = ["legacy", "v1", "auto"];
export const FAMILIES = ["pair", "identity", "at-least-once", "tls"];
const N = 20;

/** Every aiomsg version on PyPI, oldest first (`pip index versions aiomsg`). */
export async function listReleases() {
  const { stdout } = await execa(basePython(), ["-m", "pip", "index", "versions", "aiomsg", "--disable-pip-version-check"]);
  const line = stdout.split("\n").find((l) => l.startsWith("Available versions:"));
  if (!line) throw new Error(`pip index versions aiomsg: unexpected output\n${stdout}`);
  const versions = line.slice("Available versions:".length).split(",").map((v) => v.trim()).filter(Boolean);
  const key = (v) => v.split(".").map(Number);
  return versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  });
}

/**
 * The short reason a release scenario failed, from what its agents printed: the
 * TS end's error codes (peer-disconnected reasons, socket errors other than
 * connection refused while retrying) and the Python end's exception line.
 */
function diagnose(ctx, err) {
  for (const a of ctx.agents) {
    const u = a.eventsNamed("unsupported")[0];
    if (u) return { status: "n/a", reason: u.args.join(" ").replaceAll("_", " ") };
  }
  const parts = [];
  for (const a of ctx.agents) {
    if (a.kind === "ts") {
      const seen = new Map();
      for (const l of a.stderr) {
        const m = /socket error: (ERR_AIOMSG_\w+) (.*)$/.exec(l);
        if (m && m[1] !== "ERR_AIOMSG_CONNECT_FAILED" && !seen.has(m[1])) seen.set(m[1], m[2].slice(0, 90));
      }
      for (const e of a.eventsNamed("peer-disconnected")) {
        const code = e.args[1];
        if (code && code !== "orderly" && !seen.has(code)) seen.set(code, "");
      }
      if (seen.size) parts.push(`ts: ${[...seen].map(([c, m]) => (m ? `${c} (${m})` : c)).join(", ")}`);
    } else if (a.kind.startsWith("py@")) {
      const line = a.stderr.findLast((l) => !l.startsWith("EVENT") && /^[\w.]*(Error|Exception)\b/.test(l));
      if (line) parts.push(`py: ${line.trim().slice(0, 140)}`);
      else if (a.exit?.code && !a.killedByHarness) parts.push(`py exited with code ${a.exit.code}`);
    }
  }
  if (!parts.length) parts.push((err?.message ?? String(err)).split("\n")[0].slice(0, 160));
  return { status: "fail", reason: parts.join("; ") };
}

/** Runs `body(ctx)`; on failure throws a ScenarioError whose first line is JSON {status, reason}. */
function diagnosed(body) {
  return async (ctx) => {
    try {
      await body(ctx);
    } catch (err) {
      throw new ScenarioError(`${JSON.stringify(diagnose(ctx, err))}\n${err?.message ?? err}`);
    }
  };
}

/** A source on one side, a sink on the other; the sink must get exactly m0..m{N-1}. */
async function oneWay(ctx, { py, protocol, tsSide, tsRole, delivery = "at-most-once", tls = false }) {
  const port = await freePort();
  const pyRole = tsRole === "bind" ? "connect" : "bind";
  const sides = [
    { kind: "ts", role: tsRole, behavior: tsSide },
    { kind: py, role: pyRole, behavior: tsSide === "source" ? "sink" : "source" },
  ].sort((a, b) => (a.role === "bind" ? 0 : 1) - (b.role === "bind" ? 0 : 1));
  const agents = {};
  for (const s of sides) {
    const a = start(ctx, `${s.kind === "ts" ? "ts" : "py"}-${s.role}-${s.behavior}`, s.kind, protocol, {
      role: s.role, port, behavior: s.behavior, count: N, sendMode: "roundrobin", delivery, tls, protocol,
    });
    agents[s.behavior] = a;
    if (s.role === "bind") await a.waitReady({ timeoutMs: 8_000 });
  }
  const sink = agents.sink;
  await sink.waitLines(N, { timeoutMs: 8_000 });
  await ctx.expectCleanExit(sink, { timeoutMs: 8_000 });
  assertLines(sink.lines, seq("m", N), sink.name);
  ctx.messages += N;
}

/** One family's scenario for one release and TS protocol. */
function familyScenario(version, protocol, family) {
  const py = `py@${version}`;
  const steps = {
    // Both directions, both roles: TS binds and sends; Python binds and sends.
    pair: async (ctx) => {
      await oneWay(ctx, { py, protocol, tsSide: "source", tsRole: "bind" });
      await oneWay(ctx, { py, protocol, tsSide: "sink", tsRole: "connect" });
    },
    // A Python echo answers a TS requester by identity.
    identity: async (ctx) => {
      const port = await freePort();
      const echo = start(ctx, "py-echo", py, protocol, { role: "bind", port, behavior: "echo", count: N });
      await echo.waitReady({ timeoutMs: 8_000 });
      const req = start(ctx, "ts-requester", "ts", protocol, {
        role: "connect", port, behavior: "request", count: N, prefix: "x", protocol,
      });
      await req.waitLines(N, { timeoutMs: 8_000 });
      await ctx.expectCleanExit(req, { timeoutMs: 8_000 });
      assertLines(req.lines, seq("x", N), req.name);
      ctx.messages += N;
    },
    // At-least-once both ways (each end acknowledges in the other's format).
    "at-least-once": async (ctx) => {
      await oneWay(ctx, { py, protocol, tsSide: "source", tsRole: "bind", delivery: "at-least-once" });
      await oneWay(ctx, { py, protocol, tsSide: "sink", tsRole: "connect", delivery: "at-least-once" });
    },
    // TLS: TS binds with a certificate; Python connects and verifies it.
    tls: async (ctx) => {
      await oneWay(ctx, { py, protocol, tsSide: "source", tsRole: "bind", tls: true });
    },
  };
  return {
    name: `release ${version} × ts --protocol ${protocol}: ${family}`,
    version, protocol, family,
    wires: [],
    tls: family === "tls",
    timeoutMs: 60_000,
    run: diagnosed(steps[family]),
  };
}

/**
 * Provisions and runs every release. Resolves
 *   {rows: [{version, install: {ok, stage?, error?}, cells: {[protocol]: {[family]: {status, reason}}}}], seconds}
 */
export async function runReleases(env, versions, { concurrency = 4, log = (l) => process.stderr.write(`${l}\n`) } = {}) {
  const started = Date.now();
  const rows = [];
  // pip installs one at a time (heavy on 2 cores); the venvs are cached.
  for (const version of versions) rows.push({ version, install: await provisionRelease(version, { log }), cells: {} });
  const scenarios = rows
    .filter((r) => r.install.ok)
    .flatMap((r) => PROTOCOLS.flatMap((p) => FAMILIES.map((f) => familyScenario(r.version, p, f))));
  log(`[interop] release matrix: ${rows.length} releases, ${scenarios.length} scenarios, ${concurrency} at a time`);
  const results = await mapLimit(scenarios, concurrency, async (s) => {
    const r = await runScenario(env, s);
    let cell = { status: "pass", reason: "" };
    if (!r.ok) {
      try {
        cell = JSON.parse(r.error.split("\n")[0]);
      } catch {
        cell = { status: "fail", reason: r.error.split("\n")[0].slice(0, 160) };
      }
    }
    log(`[interop] ${cell.status.toUpperCase().padEnd(4)} ${r.seconds.toFixed(1)}s ${s.name}${cell.reason ? ` (${cell.reason})` : ""}`);
    return { s, cell };
  });
  for (const { s, cell } of results) {
    const row = rows.find((r) => r.version === s.version);
    (row.cells[s.protocol] ??= {})[s.family] = cell;
  }
  return { rows, scenarios: scenarios.length, seconds: (Date.now() - started) / 1000 };
}

const MARK = { pass: "✅", fail: "❌", "n/a": "➖" };

/**
 * One wording per cause: bytes that vary from run to run (random identities read
 * as a frame type or as UTF-8) are masked, and the release's own version number
 * is dropped, so the same incompatibility gets one footnote.
 */
export function normalizeReason(reason) {
  // The TS end's code first; a Python connection error is only the echo of the TS
  // end closing the connection, so it is left out when the TS end said why.
  const parts = reason.split("; ");
  const ts = parts.filter((p) => p.startsWith("ts: "));
  const py = parts.filter((p) => !p.startsWith("ts: ") && !(ts.length && /^py: (ConnectionResetError|BrokenPipeError|IncompleteReadError)/.test(p)));
  return [...ts, ...py]
    .join("; ")
    .replace(/^aiomsg [\d.]+ has /, "the release has ")
    .replace(/0x[0-9a-f]+/gi, "0x…")
    .replace(/can't decode bytes? .*?in position [\d-]+: invalid (start|continuation) byte/g, "can't decode byte 0x… in position …: invalid byte");
}

/**
 * Markdown: one row per release, one column per TS protocol, each cell the
 * families' marks; then the reasons, each written once with the cells it covers.
 */
export function releaseTable({ rows }) {
  const out = [];
  out.push(`| aiomsg | ${PROTOCOLS.map((p) => `ts \`${p}\``).join(" | ")} |`);
  out.push(`|---|${PROTOCOLS.map(() => "---").join("|")}|`);
  const reasons = new Map(); // reason -> [cell labels]
  const note = (reason, label) => {
    if (!reasons.has(reason)) reasons.set(reason, []);
    reasons.get(reason).push(label);
    return [...reasons.keys()].indexOf(reason) + 1;
  };
  for (const row of rows) {
    if (!row.install.ok) {
      const n = note(`does not ${row.install.stage === "import" ? "import" : "install"} on Python 3.11: ${row.install.error}`, row.version);
      out.push(`| ${row.version} | ${PROTOCOLS.map(() => `not runnable [${n}]`).join(" | ")} |`);
      continue;
    }
    const cells = PROTOCOLS.map((p) => {
      const fams = FAMILIES.map((f) => {
        const c = row.cells[p]?.[f] ?? { status: "fail", reason: "not run" };
        return { f, status: c.status, reason: c.status === "pass" ? "" : normalizeReason(c.reason) };
      });
      const same = fams.every((c) => c.status === fams[0].status && c.reason === fams[0].reason);
      if (same && fams[0].status === "pass") return `${MARK.pass} all`;
      if (same) return `${MARK[fams[0].status]} all [${note(fams[0].reason, `${row.version}/${p}`)}]`;
      return fams
        .map((c) => (c.status === "pass" ? `${MARK.pass} ${c.f}` : `${MARK[c.status]} ${c.f} [${note(c.reason, `${row.version}/${p}/${c.f}`)}]`))
        .join("<br>");
    });
    out.push(`| ${row.version} | ${cells.join(" | ")} |`);
  }
  if (reasons.size) {
    out.push("");
    let i = 1;
    for (const [reason] of reasons) out.push(`${i++}. ${reason}`);
  }
  return out.join("\n");
}
