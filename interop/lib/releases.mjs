// Release compatibility matrix (`run.mjs --releases all|V1,V2,...`): every aiomsg
// release on PyPI, each in its own cached venv (lib/python.mjs), against the TS
// agent (--protocol auto by default; `--protocols` adds legacy, v1, early) with
// the TS end in both roles, over four families: pair, identity, at-least-once and
// tls. The result is a table release x family x TS role per protocol where every
// cell is pass, fail (with the reason read from the agents' output) or n/a (the
// release lacks the feature; the Python agent says so and exits 4).
import { execa } from "execa";
import { freePort, mapLimit, runScenario, ScenarioError } from "./harness.mjs";
import { basePython, provisionRelease } from "./python.mjs";
import { assertLines, receiveSequence, seq, start } from "./scenarios.mjs";

/** TS dialects the matrix can run; `--protocols` picks them, `auto` alone by default. */
export const PROTOCOLS = ["auto", "legacy", "v1", "early"];
export const FAMILIES = ["pair", "identity", "at-least-once", "tls"];
export const ROLES = ["bind", "connect"];
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

/** The behaviour that answers `b` on the other side of a pair. */
const PARTNER = { source: "sink", sink: "source", echo: "request", request: "echo" };

/**
 * One TS agent and one Python agent on a fresh port, the binding one started
 * first. The TS end plays `tsBehavior` in `tsRole`; the Python end the partner
 * behaviour in the other role. The side that receives (sink or requester) must
 * get exactly `prefix`0..N-1 in order, or, when a Python at-least-once source may
 * resend (Python schedules every resend 5 s after send(), connected or not),
 * each at least once with first arrivals in order (duplicates become a note).
 */
async function pairRun(ctx, { py, protocol, tsRole, tsBehavior, delivery = "at-most-once", tls = false }) {
  const port = await freePort();
  const pyRole = tsRole === "bind" ? "connect" : "bind";
  const pyBehavior = PARTNER[tsBehavior];
  const lateResends = pyBehavior === "source" && delivery === "at-least-once";
  const prefix = tsBehavior === "echo" || tsBehavior === "request" ? "x" : "m";
  const sides = [
    { kind: "ts", role: tsRole, behavior: tsBehavior },
    { kind: py, role: pyRole, behavior: pyBehavior },
  ].sort((a, b) => (a.role === "bind" ? 0 : 1) - (b.role === "bind" ? 0 : 1));
  const agents = {};
  for (const s of sides) {
    const a = start(ctx, `${s.kind === "ts" ? "ts" : "py"}-${s.role}-${s.behavior}`, s.kind, protocol, {
      role: s.role, port, behavior: s.behavior, count: N, prefix, sendMode: "roundrobin", delivery, tls, protocol,
      forever: lateResends && s.behavior === "sink",
    });
    agents[s.behavior] = a;
    if (s.role === "bind") await a.waitReady({ timeoutMs: 8_000 });
  }
  const receiver = agents.sink ?? agents.request;
  if (lateResends) {
    ctx.messages += await receiveSequence(ctx, receiver, N, true);
    return;
  }
  await receiver.waitLines(N, { timeoutMs: 8_000 });
  await ctx.expectCleanExit(receiver, { timeoutMs: 8_000 });
  assertLines(receiver.lines, seq(prefix, N), receiver.name);
  ctx.messages += N;
}

/**
 * What each family runs with the TS end in `role`. Every family exercises the
 * role both ways where a direction exists: pair and at-least-once send from TS
 * to Python and from Python to TS; identity has the TS end answer by identity
 * when it binds (a TS echo, Python requester) and ask when it connects (a Python
 * echo answers by identity); tls is the pair over TLS, with the TS end the
 * server when it binds and the verifying client when it connects.
 */
const FAMILY_STEPS = {
  pair: [{ tsBehavior: "source" }, { tsBehavior: "sink" }],
  identity: [{ bind: "echo", connect: "request" }],
  "at-least-once": [{ tsBehavior: "source", delivery: "at-least-once" }, { tsBehavior: "sink", delivery: "at-least-once" }],
  tls: [{ tsBehavior: "source", tls: true }, { tsBehavior: "sink", tls: true }],
};

/** One family's scenario for one release, TS protocol and TS role. */
function familyScenario(version, protocol, family, role) {
  const py = `py@${version}`;
  return {
    name: `release ${version} × ts --protocol ${protocol} ${role}: ${family}`,
    version, protocol, family, role,
    wires: [],
    tls: family === "tls",
    timeoutMs: 60_000,
    run: diagnosed(async (ctx) => {
      for (const step of FAMILY_STEPS[family]) {
        await pairRun(ctx, { py, protocol, tsRole: role, tsBehavior: step.tsBehavior ?? step[role], delivery: step.delivery, tls: step.tls });
      }
    }),
  };
}

/**
 * Provisions and runs every release. Resolves
 *   {rows: [{version, install: {ok, stage?, error?},
 *            cells: {[protocol]: {[family]: {[role]: {status, reason, seconds}}}}}],
 *    protocols, scenarios, seconds}
 */
export async function runReleases(env, versions, { protocols = ["auto"], concurrency = 4, log = (l) => process.stderr.write(`${l}\n`) } = {}) {
  const started = Date.now();
  const rows = [];
  // pip installs one at a time (heavy on 2 cores); the venvs are cached.
  for (const version of versions) rows.push({ version, install: await provisionRelease(version, { log }), cells: {} });
  const scenarios = rows
    .filter((r) => r.install.ok)
    .flatMap((r) => protocols.flatMap((p) => FAMILIES.flatMap((f) => ROLES.map((role) => familyScenario(r.version, p, f, role)))));
  log(`[interop] release matrix: ${rows.length} releases, ${scenarios.length} scenarios, ${concurrency} at a time`);
  const runStarted = Date.now();
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
    cell.seconds = Number(r.seconds.toFixed(1));
    log(`[interop] ${cell.status.toUpperCase().padEnd(4)} ${r.seconds.toFixed(1)}s ${s.name}${cell.reason ? ` (${cell.reason})` : ""}`);
    return { s, cell };
  });
  for (const { s, cell } of results) {
    const row = rows.find((r) => r.version === s.version);
    ((row.cells[s.protocol] ??= {})[s.family] ??= {})[s.role] = cell;
  }
  const now = Date.now();
  return { rows, protocols, scenarios: scenarios.length, seconds: (now - started) / 1000, runSeconds: (now - runStarted) / 1000 };
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
 * Markdown: per TS protocol, one row per release and one column per family, each
 * cell the TS end's two roles (bind, connect); then the reasons, each written
 * once with the cells it covers.
 */
export function releaseTable({ rows, protocols }) {
  const out = [];
  const reasons = new Map(); // reason -> [cell labels]
  const note = (reason, label) => {
    if (!reasons.has(reason)) reasons.set(reason, []);
    reasons.get(reason).push(label);
    return [...reasons.keys()].indexOf(reason) + 1;
  };
  for (const p of protocols) {
    if (protocols.length > 1) out.push(`**ts \`--protocol ${p}\`**`, "");
    out.push(`| aiomsg | ${FAMILIES.join(" | ")} |`);
    out.push(`|---|${FAMILIES.map(() => "---").join("|")}|`);
    for (const row of rows) {
      if (!row.install.ok) {
        const n = note(`does not ${row.install.stage === "import" ? "import" : "install"} on Python 3.11: ${row.install.error}`, row.version);
        out.push(`| ${row.version} | ${FAMILIES.map(() => `not runnable [${n}]`).join(" | ")} |`);
        continue;
      }
      const cells = FAMILIES.map((f) =>
        ROLES.map((role) => {
          const c = row.cells[p]?.[f]?.[role] ?? { status: "fail", reason: "not run" };
          if (c.status === "pass") return `${MARK.pass} ${role}`;
          return `${MARK[c.status]} ${role} [${note(normalizeReason(c.reason), `${row.version}/${p}/${f}/${role}`)}]`;
        }).join(" "),
      );
      out.push(`| ${row.version} | ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  if (reasons.size) {
    let i = 1;
    for (const [reason] of reasons) out.push(`${i++}. ${reason}`);
  }
  return out.join("\n").trimEnd();
}

/** Counts of pass / fail / n/a cells, overall and per protocol x role. */
export function releaseCounts({ rows, protocols }) {
  const cells = [];
  for (const r of rows) for (const p of protocols) for (const f of FAMILIES) for (const role of ROLES) {
    const c = r.cells[p]?.[f]?.[role];
    if (c) cells.push({ version: r.version, protocol: p, family: f, role, status: c.status });
  }
  const count = (list, st) => list.filter((c) => c.status === st).length;
  const by = {};
  for (const p of protocols) for (const role of ROLES) {
    const list = cells.filter((c) => c.protocol === p && c.role === role);
    by[`${p}/${role}`] = { pass: count(list, "pass"), fail: count(list, "fail"), na: count(list, "n/a") };
  }
  return { total: cells.length, pass: count(cells, "pass"), fail: count(cells, "fail"), na: count(cells, "n/a"), by };
}
