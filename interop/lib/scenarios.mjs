// The interop matrix, shared by the runner (run.mjs) and the vitest suite
// (test/interop.test.ts). A scenario is
//   { name, wires: ["v1"|"legacy", ...], tls: bool, timeoutMs, run(ctx) }
// where run() starts agents through the ScenarioContext (lib/harness.mjs), waits on
// their output with deadlines, and throws when what a sink received is not exactly
// what was sent (in order wherever order is promised). It sets ctx.messages to the
// number of payloads delivered and may add notes (e.g. duplicates seen).
import { freePort, ScenarioError } from "./harness.mjs";

const PY = { v1: "py:v1", legacy: "py:legacy" };
const MODES = [
  { sendMode: "publish", delivery: "at-most-once" },
  { sendMode: "roundrobin", delivery: "at-most-once" },
  { sendMode: "roundrobin", delivery: "at-least-once" },
];
const modeName = (m) => `${m.sendMode}/${m.delivery}`;
export const seq = (prefix, n, from = 0) => Array.from({ length: n - from }, (_, i) => `${prefix}${from + i}`);

// ---------------------------------------------------------------------------
// assertions

function fail(msg) {
  throw new ScenarioError(msg);
}

/** Exactly `expected`, in order. */
export function assertLines(actual, expected, who) {
  if (actual.length === expected.length && actual.every((l, i) => l === expected[i])) return;
  const i = actual.findIndex((l, k) => l !== expected[k]);
  const exp = new Set(expected);
  const got = new Set(actual);
  const missing = expected.filter((l) => !got.has(l));
  const extra = actual.filter((l) => !exp.has(l));
  fail(
    `${who}: expected ${expected.length} lines [${preview(expected)}], got ${actual.length} [${preview(actual)}]` +
      (i >= 0 ? `; first difference at #${i}: ${JSON.stringify(actual[i])} vs ${JSON.stringify(expected[i])}` : "") +
      (missing.length ? `; missing ${missing.length}: ${preview(missing)}` : "") +
      (extra.length ? `; unexpected ${extra.length}: ${preview(extra)}` : ""),
  );
}

function preview(list, n = 6) {
  return list.length <= n * 2
    ? list.join(",")
    : `${list.slice(0, n).join(",")},…,${list.slice(-n).join(",")}`;
}

const indexOf = (prefix, line) =>
  line.startsWith(prefix) && /^\d+$/.test(line.slice(prefix.length)) ? Number(line.slice(prefix.length)) : NaN;

/** The lines are `prefix+i` with strictly increasing i. */
function assertIncreasing(lines, prefix, who) {
  let last = -1;
  for (const line of lines) {
    const i = indexOf(prefix, line);
    if (!(i > last)) fail(`${who}: out of order or foreign line ${JSON.stringify(line)} after ${prefix}${last}`);
    last = i;
  }
}

/** Round-robin shares: each sink got `share` lines in order; together exactly the set sent. */
function assertShares(sinks, prefix, total, share) {
  const all = [];
  for (const s of sinks) {
    if (s.lines.length !== share) fail(`${s.name}: expected an even share of ${share}, got ${s.lines.length}`);
    assertIncreasing(s.lines, prefix, s.name);
    all.push(...s.lines);
  }
  const sorted = [...all].sort((a, b) => indexOf(prefix, a) - indexOf(prefix, b));
  assertLines(sorted, seq(prefix, total), "union of round-robin shares");
}

/** Per-prefix subsequences are exactly prefix0..n-1 in order. */
function assertMerged(lines, prefixes, n, who) {
  for (const p of prefixes) {
    assertLines(lines.filter((l) => indexOf(p, l) >= 0), seq(p, n), `${who} (from ${p}*)`);
  }
  const foreign = lines.filter((l) => !prefixes.some((p) => indexOf(p, l) >= 0));
  if (foreign.length) fail(`${who}: unexpected lines ${preview(foreign)}`);
}

/**
 * At-least-once from a Python source that may send before its peer is connected:
 * Python aiomsg (2019.12.3 and 2026.7.1 alike) schedules each message's resend 5 s
 * after send(), connected or not, so a peer that arrives later than that gets the
 * buffered message and then its resend. At-least-once allows that duplicate.
 * Such a sink runs with --forever; this waits until every expected line has
 * arrived, then checks: nothing foreign, per prefix the first arrivals exactly in
 * send order. Duplicates are reported as a note; returns the number of distinct
 * messages received.
 */
async function receiveAtLeastOnce(ctx, sink, prefixes, n, { timeoutMs = 25_000 } = {}) {
  const want = prefixes.flatMap((p) => seq(p, n));
  await sink.waitFor((a) => {
    const got = new Set(a.lines);
    return want.every((l) => got.has(l));
  }, { timeoutMs, what: `all ${want.length} messages at least once` });
  const lines = [...sink.lines];
  const wanted = new Set(want);
  const foreign = lines.filter((l) => !wanted.has(l));
  if (foreign.length) fail(`${sink.name}: unexpected lines ${preview(foreign)}`);
  const firsts = [...new Set(lines)];
  for (const p of prefixes) {
    assertLines(firsts.filter((l) => indexOf(p, l) >= 0), seq(p, n), `${sink.name} (first arrivals from ${p}*)`);
  }
  const dups = lines.length - firsts.length;
  if (dups) ctx.note(`duplicates (at-least-once, Python resent after 5 s): ${dups}`);
  return firsts.length;
}

/**
 * The sink of one source's n messages m0..m{n-1}: exactly those, in order, and a
 * clean exit; or, where a Python at-least-once source may resend to a late sink
 * (`lateResends`), each at least once (receiveAtLeastOnce). Returns the count.
 */
export async function receiveSequence(ctx, sink, n, lateResends) {
  if (lateResends) return receiveAtLeastOnce(ctx, sink, ["m"], n, { timeoutMs: 20_000 });
  await sink.waitLines(n, { timeoutMs: 20_000 });
  await ctx.expectCleanExit(sink);
  assertLines(sink.lines, seq("m", n), sink.name);
  return n;
}

// ---------------------------------------------------------------------------
// agent flags

/**
 * Starts an agent. `o` holds contract flags in camelCase plus harness options:
 *   tls: bool (adds cert/key for bind, CA for connect), serverName: bool (connect
 *   side passes --tls-server-name instead of relying on the IP SAN).
 * A TS agent gets --protocol (default: the scenario's wire).
 */
export function start(ctx, name, kind, wire, o) {
  const f = {
    role: o.role,
    host: "127.0.0.1",
    port: o.ports ? undefined : o.port,
    ports: o.ports?.join(","),
    "send-mode": o.sendMode ?? "roundrobin",
    behavior: o.behavior,
    count: o.count,
    forever: o.forever ? "true" : undefined,
    prefix: o.prefix,
    delivery: o.delivery ?? "at-most-once",
    identity: o.identity,
    // Sources, echoes and relays stay up (the harness kills them once the sinks are
    // done); a requester exits shortly after its last reply (and its last ACK).
    linger: o.linger ?? (o.behavior === "sink" ? undefined : o.behavior === "request" ? 0.5 : 30),
    "wait-peers": o.waitPeers,
    interval: o.interval,
    "pause-after": o.pauseAfter,
    pause: o.pause,
  };
  if (o.tls) {
    f.tls = "true";
    if (o.role === "bind") {
      f["tls-cert"] = ctx.pki.cert;
      f["tls-key"] = ctx.pki.key;
    } else {
      f["tls-ca"] = ctx.pki.ca;
      if (o.serverName) f["tls-server-name"] = ctx.pki.serverName;
    }
  }
  if (kind === "ts") {
    f.protocol = o.protocol ?? wire;
    f["heartbeat-interval"] = o.heartbeatInterval;
    f["heartbeat-timeout"] = o.heartbeatTimeout;
  }
  return ctx.start(name, kind, f);
}

const other = (role) => (role === "bind" ? "connect" : "bind");

// ---------------------------------------------------------------------------
// families

/** TS source -> Python sink and Python source -> TS sink, every role and mode. */
function pairScenarios(wire, transport) {
  const out = [];
  const N = 50;
  for (const direction of ["ts->py", "py->ts"]) {
    for (const tsRole of ["bind", "connect"]) {
      for (const mode of MODES) {
        const tls = transport === "tls";
        out.push({
          name: `${wire} ${transport} pair ${direction} ts-${tsRole} ${modeName(mode)}`,
          wires: [wire],
          tls,
          timeoutMs: 40_000,
          async run(ctx) {
            const port = await freePort();
            const py = PY[wire];
            const tsIsSource = direction === "ts->py";
            const kinds = { ts: tsIsSource ? "source" : "sink", py: tsIsSource ? "sink" : "source" };
            const sides = [
              { kind: "ts", role: tsRole, behavior: kinds.ts },
              { kind: py, role: other(tsRole), behavior: kinds.py },
            ].sort((a, b) => (a.role === "bind" ? 0 : 1) - (b.role === "bind" ? 0 : 1));
            // A Python at-least-once source may resend to a late peer (see receiveAtLeastOnce).
            const lateResends = !tsIsSource && mode.delivery === "at-least-once";
            const agents = {};
            for (const s of sides) {
              const a = start(ctx, `${s.kind === "ts" ? "ts" : "py"}-${s.role}-${s.behavior}`, s.kind, wire, {
                role: s.role, port, behavior: s.behavior, count: N, ...mode, tls,
                forever: lateResends && s.behavior === "sink",
                // Cover both TLS name checks: the SAN IP 127.0.0.1, and a DNS name via --tls-server-name.
                serverName: tls && (s.kind === "ts" || mode.sendMode === "publish"),
              });
              agents[s.behavior] = a;
              if (s.role === "bind") await a.waitReady();
            }
            const sink = agents.sink;
            ctx.messages = await receiveSequence(ctx, sink, N, lateResends);
            ctx.expectNotCrashed(agents.source);
          },
        });
      }
    }
  }
  return out;
}

/**
 * Many peers: a hub with three leaves. hubKind "ts" with Python leaves, and the
 * mirror image with Python in the middle; the hub binds (leaves connect) or the
 * hub connects to three binding leaves (--ports).
 */
function fanScenarios(wire) {
  const out = [];
  const py = PY[wire];
  const N = 30;
  for (const hubKind of ["ts", py]) {
    const leafKind = hubKind === "ts" ? py : "ts";
    const hubLabel = hubKind === "ts" ? "ts" : "py";
    const leafLabel = hubKind === "ts" ? "py" : "ts";
    for (const hubRole of ["bind", "connect"]) {
      const topo = hubRole === "bind" ? `1 ${hubLabel} bind + 3 ${leafLabel} connect` : `1 ${hubLabel} connect + 3 ${leafLabel} bind`;
      const setup = async (ctx, hubOpts, leafOpts) => {
        const ports = hubRole === "bind" ? [await freePort()] : [await freePort(), await freePort(), await freePort()];
        const leaves = [];
        const startLeaf = (i) =>
          start(ctx, `${leafLabel}-leaf${i}`, leafKind, wire, {
            role: other(hubRole), port: hubRole === "bind" ? ports[0] : ports[i], ...leafOpts(i),
          });
        if (hubRole === "connect") {
          for (let i = 0; i < 3; i++) leaves.push(startLeaf(i));
          await Promise.all(leaves.map((l) => l.waitReady()));
        }
        const hub = start(ctx, `${hubLabel}-hub`, hubKind, wire, {
          role: hubRole, ...(hubRole === "bind" ? { port: ports[0] } : { ports }), ...hubOpts,
        });
        if (hubRole === "bind") {
          await hub.waitReady();
          for (let i = 0; i < 3; i++) leaves.push(startLeaf(i));
        }
        return { hub, leaves };
      };
      for (const mode of MODES) {
        out.push({
          name: `${wire} fan ${topo}: hub source ${modeName(mode)}`,
          wires: [wire],
          tls: false,
          timeoutMs: 45_000,
          async run(ctx) {
            const share = mode.sendMode === "publish" ? N : N / 3;
            const { hub, leaves } = await setup(
              ctx,
              { behavior: "source", count: N, ...mode, waitPeers: 3 },
              () => ({ behavior: "sink", count: share, ...mode }),
            );
            await Promise.all(leaves.map((l) => l.waitLines(share, { timeoutMs: 25_000 })));
            await Promise.all(leaves.map((l) => ctx.expectCleanExit(l)));
            if (mode.sendMode === "publish") {
              for (const l of leaves) assertLines(l.lines, seq("m", N), l.name);
            } else {
              assertShares(leaves, "m", N, share);
            }
            ctx.expectNotCrashed(hub);
            ctx.messages = leaves.reduce((n, l) => n + l.lines.length, 0);
          },
        });
      }
      for (const delivery of ["at-most-once", "at-least-once"]) {
        out.push({
          name: `${wire} fan ${topo}: hub sink, leaves roundrobin/${delivery}`,
          wires: [wire],
          tls: false,
          timeoutMs: 45_000,
          async run(ctx) {
            const prefixes = ["a", "b", "c"];
            // Python at-least-once leaves may resend to a late hub (see receiveAtLeastOnce).
            const lateResends = hubKind === "ts" && delivery === "at-least-once";
            const { hub, leaves } = await setup(
              ctx,
              { behavior: "sink", count: 3 * N, delivery, forever: lateResends },
              (i) => ({ behavior: "source", count: N, prefix: prefixes[i], delivery }),
            );
            if (lateResends) {
              ctx.messages = await receiveAtLeastOnce(ctx, hub, prefixes, N);
            } else {
              await hub.waitLines(3 * N, { timeoutMs: 25_000 });
              await ctx.expectCleanExit(hub);
              assertMerged(hub.lines, prefixes, N, hub.name);
              ctx.messages = hub.lines.length;
            }
            for (const l of leaves) ctx.expectNotCrashed(l);
          },
        });
      }
    }
  }
  return out;
}

/** By identity: an echo peer in the middle answers two requesters, each only with its own messages. */
function identityScenarios(wire) {
  const out = [];
  const py = PY[wire];
  const N = 20;
  const cases = [
    { echo: py, echoRole: "bind", delivery: "at-most-once" },
    { echo: py, echoRole: "connect", delivery: "at-most-once" },
    { echo: py, echoRole: "bind", delivery: "at-least-once" },
    { echo: "ts", echoRole: "bind", delivery: "at-most-once" },
    { echo: "ts", echoRole: "connect", delivery: "at-most-once" },
    { echo: "ts", echoRole: "bind", delivery: "at-least-once" },
  ];
  for (const c of cases) {
    const echoLabel = c.echo === "ts" ? "ts" : "py";
    const reqKind = c.echo === "ts" ? py : "ts";
    const reqLabel = c.echo === "ts" ? "py" : "ts";
    out.push({
      name: `${wire} identity: ${echoLabel} echo (${c.echoRole}) answers 2 ${reqLabel} requesters by identity, ${c.delivery}`,
      wires: [wire],
      tls: false,
      timeoutMs: 40_000,
      async run(ctx) {
        const prefixes = ["x", "y"];
        const reqRole = other(c.echoRole);
        const echoPorts = c.echoRole === "bind" ? [await freePort()] : [await freePort(), await freePort()];
        const startReq = (i) =>
          start(ctx, `${reqLabel}-requester-${prefixes[i]}`, reqKind, wire, {
            role: reqRole, port: c.echoRole === "bind" ? echoPorts[0] : echoPorts[i],
            behavior: "request", count: N, prefix: prefixes[i], delivery: c.delivery,
          });
        const echoOpts = {
          role: c.echoRole, behavior: "echo", count: 2 * N, delivery: c.delivery,
          ...(c.echoRole === "bind" ? { port: echoPorts[0] } : { ports: echoPorts }),
        };
        let reqs;
        if (c.echoRole === "bind") {
          const echo = start(ctx, `${echoLabel}-echo`, c.echo, wire, echoOpts);
          await echo.waitReady();
          reqs = [startReq(0), startReq(1)];
        } else {
          reqs = [startReq(0), startReq(1)];
          await Promise.all(reqs.map((r) => r.waitReady()));
          start(ctx, `${echoLabel}-echo`, c.echo, wire, echoOpts);
        }
        await Promise.all(reqs.map((r) => r.waitLines(N, { timeoutMs: 25_000 })));
        await Promise.all(reqs.map((r) => ctx.expectCleanExit(r)));
        reqs.forEach((r, i) => assertLines(r.lines, seq(prefixes[i], N), r.name));
        ctx.messages = 2 * N;
      },
    });
  }
  return out;
}

/** Buffering: everything is sent before any peer exists; the first peer gets it all, in order. */
function bufferingScenarios(wire) {
  const out = [];
  const py = PY[wire];
  const N = 40;
  const cases = [
    ...MODES.map((mode) => ({ source: "ts", sourceRole: "bind", mode })),
    { source: "ts", sourceRole: "connect", mode: MODES[1] },
    { source: "ts", sourceRole: "connect", mode: MODES[2] },
    { source: py, sourceRole: "bind", mode: MODES[1] },
    { source: py, sourceRole: "bind", mode: MODES[2] },
  ];
  for (const c of cases) {
    const srcLabel = c.source === "ts" ? "ts" : "py";
    const sinkKind = c.source === "ts" ? py : "ts";
    const sinkLabel = c.source === "ts" ? "py" : "ts";
    const when = c.sourceRole === "bind" ? "before any peer connects" : "while nothing listens";
    out.push({
      name: `${wire} buffering: ${srcLabel} ${c.sourceRole} source sends ${when}, then a ${sinkLabel} sink gets all, ${modeName(c.mode)}`,
      wires: [wire],
      tls: false,
      timeoutMs: 40_000,
      async run(ctx) {
        const port = await freePort();
        const source = start(ctx, `${srcLabel}-source`, c.source, wire, {
          role: c.sourceRole, port, behavior: "source", count: N, ...c.mode,
        });
        await source.waitEvent("sent");
        if (source.eventsNamed("peer-connected").length) fail("source saw a peer before the sink started");
        // A Python at-least-once source resends to a sink that comes late (see receiveAtLeastOnce).
        const lateResends = c.source !== "ts" && c.mode.delivery === "at-least-once";
        const sink = start(ctx, `${sinkLabel}-sink`, sinkKind, wire, {
          role: other(c.sourceRole), port, behavior: "sink", count: N, ...c.mode, forever: lateResends,
        });
        ctx.messages = await receiveSequence(ctx, sink, N, lateResends);
        ctx.expectNotCrashed(source);
      },
    });
  }
  return out;
}

/**
 * Restart: a TS connect source streams to a Python bind sink, which is SIGKILLed
 * mid-stream and started again on the same port. TS reconnects by itself and
 * flushes what it queued, in order. At-most-once may lose what was in flight at
 * the kill, nothing else; at-least-once loses nothing (duplicates are reported).
 */
function restartScenarios(wire) {
  const py = PY[wire];
  const N = 150;
  const KILL_AT = 20;
  return ["at-most-once", "at-least-once"].map((delivery) => ({
    name: `${wire} restart: py bind sink SIGKILLed mid-stream and restarted, ts connect source reconnects, roundrobin/${delivery}`,
    wires: [wire],
    tls: false,
    timeoutMs: delivery === "at-least-once" ? 90_000 : 45_000,
    async run(ctx) {
      const port = await freePort();
      // forever: the sinks never exit by themselves; the harness decides when all arrived.
      const sinkOpts = { role: "bind", port, behavior: "sink", forever: true, delivery };
      const sink1 = start(ctx, "py-sink-1", py, wire, sinkOpts);
      await sink1.waitReady();
      const source = start(ctx, "ts-source", "ts", wire, {
        role: "connect", port, behavior: "source", count: N, delivery, interval: 0.02, linger: 120,
      });
      await sink1.waitLines(KILL_AT, { timeoutMs: 20_000 });
      // Mid-stream: the source still has messages to send when the kill is issued,
      // and the sink dies before it has them all. (Checked at the kill, not after
      // the exit: a container's exit is reported seconds later, once it is removed.)
      if (source.eventsNamed("sent").length) fail("source finished before the kill: not mid-stream");
      await sink1.signal("SIGKILL");
      await sink1.waitExit();
      if (sink1.lines.length >= N) fail(`${sink1.name} received all ${N} before it died: not mid-stream`);
      const sink2 = start(ctx, "py-sink-2", py, wire, sinkOpts);
      await source.waitEvent("peer-connected", { count: 2, timeoutMs: 20_000 });
      const got = () => [...sink1.lines, ...sink2.lines];
      if (delivery === "at-most-once") {
        await sink2.waitFor((a) => a.lines.includes(`m${N - 1}`), { timeoutMs: 25_000, what: `m${N - 1}` });
        assertIncreasing(sink1.lines, "m", sink1.name);
        assertIncreasing(sink2.lines, "m", sink2.name);
        const first2 = indexOf("m", sink2.lines[0]);
        const last1 = indexOf("m", sink1.lines.at(-1));
        if (sink1.lines[0] !== "m0") fail(`${sink1.name} did not start at m0`);
        if (first2 <= last1) fail(`${sink2.name} restarted at m${first2}, not after m${last1}`);
        assertLines(sink2.lines, seq("m", N, first2), `${sink2.name} (contiguous after reconnect)`);
        ctx.note(`lost in flight at the kill (at-most-once): ${first2 - last1 - 1}`);
      } else {
        const want = seq("m", N);
        await sink2.waitFor(() => want.every((l) => got().includes(l)), {
          timeoutMs: 60_000, what: "every message delivered at least once",
        });
        const wanted = new Set(want);
        const foreign = got().filter((l) => !wanted.has(l));
        if (foreign.length) fail(`payloads that were never sent (corrupted?): ${preview(foreign.map((l) => JSON.stringify(l)))}`);
        const dups = got().length - new Set(got()).size;
        ctx.note(`duplicates (at-least-once): ${dups}`);
      }
      ctx.expectNotCrashed(source);
      ctx.messages = new Set(got()).size;
    },
  }));
}

/** Idle: 20 s of silence with heartbeats both ways, then delivery on the same connection. */
function idleScenarios(wire) {
  const py = PY[wire];
  const out = [];
  for (const tsSide of ["source", "sink"]) {
    const srcKind = tsSide === "source" ? "ts" : py;
    const sinkKind = tsSide === "source" ? py : "ts";
    const srcLabel = tsSide === "source" ? "ts" : "py";
    const sinkLabel = tsSide === "source" ? "py" : "ts";
    out.push({
      name: `${wire} idle: ${srcLabel} bind source + ${sinkLabel} connect sink stay connected across 20 s of silence`,
      wires: [wire],
      tls: false,
      timeoutMs: 60_000,
      async run(ctx) {
        const port = await freePort();
        const source = start(ctx, `${srcLabel}-source`, srcKind, wire, {
          role: "bind", port, behavior: "source", count: 4, pauseAfter: 2, pause: 20,
        });
        await source.waitReady();
        // forever: the sink stays up after the 4th line, so the connection counts
        // below cannot race with its orderly exit.
        const sink = start(ctx, `${sinkLabel}-sink`, sinkKind, wire, { role: "connect", port, behavior: "sink", forever: true });
        await sink.waitLines(4, { timeoutMs: 40_000 });
        for (const a of [source, sink]) {
          const c = a.eventsNamed("peer-connected").length;
          const d = a.eventsNamed("peer-disconnected").length;
          if (c !== 1 || d !== 0) fail(`${a.name}: ${c} connects / ${d} disconnects during the idle period (want 1 / 0)`);
        }
        const pause = source.eventsNamed("pausing")[0];
        if (!pause) fail("source never paused");
        ctx.note(`silence: ${((Date.now() - pause.at) / 1000).toFixed(1)} s`);
        ctx.expectNotCrashed(sink);
        assertLines(sink.lines, seq("m", 4), sink.name);
        ctx.expectNotCrashed(source);
        ctx.messages = 4;
      },
    });
  }
  // A peer that goes silent (SIGSTOP) is torn down by the TS end after its heartbeat
  // timeout. Python heartbeats every 5 s when idle, so the TS timeout stays above that.
  const HB_TIMEOUT = 8000;
  for (const tsRole of ["bind", "connect"]) {
    out.push({
      name: `${wire} idle: SIGSTOPped py ${other(tsRole)} peer is torn down by ts ${tsRole} after heartbeatTimeout ${HB_TIMEOUT} ms`,
      wires: [wire],
      tls: false,
      timeoutMs: 45_000,
      async run(ctx) {
        const port = await freePort();
        const tsOpts = { role: tsRole, port, behavior: "sink", forever: true, heartbeatTimeout: HB_TIMEOUT };
        const pyOpts = { role: other(tsRole), port, behavior: "sink", forever: true };
        let ts;
        let peer;
        if (tsRole === "bind") {
          ts = start(ctx, "ts-sink", "ts", wire, tsOpts);
          await ts.waitReady();
          peer = start(ctx, "py-peer", py, wire, pyOpts);
        } else {
          peer = start(ctx, "py-peer", py, wire, pyOpts);
          await peer.waitReady();
          ts = start(ctx, "ts-sink", "ts", wire, tsOpts);
        }
        await ts.waitEvent("peer-connected", { timeoutMs: 15_000 });
        await peer.waitEvent("peer-connected", { timeoutMs: 15_000 });
        await peer.signal("SIGSTOP");
        const stoppedAt = Date.now();
        if (ts.eventsNamed("peer-disconnected").length) fail("ts saw a disconnect before the peer was stopped");
        // Deadline below Python's fixed 15 s: the TS end must honour its own configured timeout.
        await ts.waitEvent("peer-disconnected", { timeoutMs: HB_TIMEOUT + 5_000 });
        const secs = (ts.eventsNamed("peer-disconnected")[0].at - stoppedAt) / 1000;
        ctx.note(`torn down ${secs.toFixed(1)} s after SIGSTOP`);
        ctx.expectNotCrashed(ts);
      },
    });
  }
  return out;
}

/** A raw peer (no aiomsg) writes its handshake and ten data frames in ONE TCP write. */
function rawScenarios(wire) {
  const out = [];
  const cases = [
    { rawRole: "bind", protocol: wire },
    { rawRole: "connect", protocol: wire },
    { rawRole: "connect", protocol: "auto" },
  ];
  for (const c of cases) {
    out.push({
      name: `${wire} raw: ${wire} handshake + 10 data frames in one TCP write, raw peer ${c.rawRole}s, ts sink (--protocol ${c.protocol})`,
      wires: [wire],
      tls: false,
      timeoutMs: 30_000,
      async run(ctx) {
        const port = await freePort();
        const tsOpts = { role: other(c.rawRole), port, behavior: "sink", count: 10, protocol: c.protocol };
        const rawArgs = { role: c.rawRole, port, wire, count: 10, prefix: "r" };
        let ts;
        if (c.rawRole === "bind") {
          const raw = ctx.start("raw-peer", "raw", rawArgs);
          await raw.waitReady();
          ts = start(ctx, "ts-sink", "ts", wire, tsOpts);
        } else {
          ts = start(ctx, "ts-sink", "ts", wire, tsOpts);
          await ts.waitReady();
          ctx.start("raw-peer", "raw", rawArgs);
        }
        await ts.waitLines(10, { timeoutMs: 15_000 });
        await ctx.expectCleanExit(ts);
        assertLines(ts.lines, seq("r", 10), ts.name);
        ctx.messages = 10;
      },
    });
  }
  return out;
}

/**
 * Both generations at once: one TS bind socket with --protocol auto, a 2019.12.3
 * peer and a 2026.7.1 peer connected, relaying each one's messages to the other.
 */
function crossScenarios() {
  const N = 25;
  const OLD_ID = "0123456789abcdef0123456789abcdef";
  const NEW_ID = "fedcba9876543210fedcba9876543210";
  return ["at-most-once", "at-least-once"].map((delivery) => ({
    name: `cross: ts auto bind relays between py 2019.12.3 (legacy) and py 2026.7.1 (v1) both ways, roundrobin/${delivery}`,
    wires: ["v1", "legacy"],
    tls: false,
    timeoutMs: 45_000,
    async run(ctx) {
      const port = await freePort();
      const relay = start(ctx, "ts-relay", "ts", "auto", {
        role: "bind", port, behavior: "relay", count: 2 * N, delivery, waitPeers: 2,
      });
      await relay.waitReady();
      const old = start(ctx, "py-2019", PY.legacy, "legacy", {
        role: "connect", port, behavior: "request", count: N, prefix: "old", delivery, identity: OLD_ID,
      });
      const neu = start(ctx, "py-2026", PY.v1, "v1", {
        role: "connect", port, behavior: "request", count: N, prefix: "new", delivery, identity: NEW_ID,
      });
      await Promise.all([old, neu].map((a) => a.waitLines(N, { timeoutMs: 25_000 })));
      await Promise.all([old, neu].map((a) => ctx.expectCleanExit(a)));
      assertLines(old.lines, seq("new", N), old.name);
      assertLines(neu.lines, seq("old", N), neu.name);
      const proto = Object.fromEntries(relay.eventsNamed("peer-connected").map((e) => [e.args[0], e.args[1]]));
      if (proto[OLD_ID] !== "legacy" || proto[NEW_ID] !== "v1") {
        fail(`relay detected protocols ${JSON.stringify(proto)}, want ${OLD_ID}=legacy ${NEW_ID}=v1`);
      }
      ctx.expectNotCrashed(relay);
      ctx.messages = 2 * N;
    },
  }));
}

/** The README's time-server demo across languages (demo.mjs). */
function demoScenario() {
  return {
    name: "v1 demo: ts time server publishes, python aiomsg 2026.7.1 client prints (demo.mjs --seconds 4)",
    wires: ["v1"],
    tls: false,
    timeoutMs: 40_000,
    async run(ctx) {
      const demo = ctx.start("demo", "demo", ["--seconds", "4"]);
      await ctx.expectCleanExit(demo, { timeoutMs: 30_000 });
      const ok = demo.eventsNamed("demo-ok")[0];
      if (!ok) fail("demo exited 0 without reporting demo-ok");
      ctx.messages = Number(ok.args[0]);
    },
  };
}

// ---------------------------------------------------------------------------

/** Every scenario, long-running ones first (so they overlap the short ones). */
export function allScenarios() {
  const list = [];
  for (const wire of ["v1", "legacy"]) list.push(...idleScenarios(wire));
  for (const wire of ["v1", "legacy"]) list.push(...restartScenarios(wire));
  for (const wire of ["v1", "legacy"]) {
    list.push(...pairScenarios(wire, "tcp"));
    list.push(...pairScenarios(wire, "tls"));
    list.push(...fanScenarios(wire));
    list.push(...identityScenarios(wire));
    list.push(...bufferingScenarios(wire));
    list.push(...rawScenarios(wire));
  }
  list.push(...crossScenarios());
  list.push(demoScenario());
  const names = new Set();
  for (const s of list) {
    if (names.has(s.name)) throw new Error(`duplicate scenario name ${s.name}`);
    names.add(s.name);
  }
  return list;
}

/**
 * @param {{filter?: string, wire?: "v1"|"legacy"|"all"}} [opts]
 */
export function selectScenarios({ filter, wire = "all" } = {}) {
  return allScenarios().filter(
    (s) => (wire === "all" || s.wires.includes(wire)) && (!filter || s.name.includes(filter)),
  );
}

/** Which Python releases the given scenarios need, and whether they need TLS. */
export function requirements(scenarios) {
  const wires = new Set(scenarios.flatMap((s) => s.wires));
  return { wires: ["v1", "legacy"].filter((w) => wires.has(w)), tls: scenarios.some((s) => s.tls) };
}
