// The differential fidelity suite: every case of cases.mjs is played with raw
// bytes against a real Python aiomsg release and against the TS socket in the
// same role and dialect, and the two are compared.
//
// A "lane" is one subject process: the Python agent (python/agent.py on one
// release) or the TS agent (`aiomsg-ts agent --protocol <dialect>`), as an echo
// that sends every message it receives back to its sender by identity, binding
// (the driver connects to it) or connecting (to one driver listener per case, with
// --ports). The echo makes what the subject's application received visible on
// the wire. All cases of a lane run at once, each on its own connections with its
// own identities, so they do not see each other.
//
// For each connection the driver records what the subject sent (frames decoded
// and normalised: the subject's identity is S, the driver's identities and msg
// ids are the case's names for them, ids the subject made are s1, s2, ... in
// order of appearance; heartbeats are left out), whether the subject closed it,
// and (connect role) whether it dialled again. The TS agent runs with
// NODE_DEBUG=aiomsg, so the error code of a connection it closed is read from
// its log. Identical outcomes are MATCH; otherwise the case must name a
// departure of departures.mjs whose rule the two outcomes satisfy, or the case
// is a DIFFERENCE, which fails the suite. A difference that is no allowed
// departure but is known and reported is pinned by its case (`finding`: both
// outcomes word for word) and shows as FINDING; any change to it fails again.
import { Agent, Env, freePort, mapLimit } from "../lib/harness.mjs";
import { provisionRelease } from "../lib/python.mjs";
import { CASES } from "./cases.mjs";
import { DEPARTURES } from "./departures.mjs";
import { describeOutcome } from "./report.mjs";
import { ackFrame, dataFrame, frame, parseFrame } from "./frames.mjs";
import { CaseListener, dial } from "./peer.mjs";

/** The Python release each dialect is compared against (`releases` overrides). */
export const DEFAULT_RELEASES = { v1: "2026.7.1", legacy: "2019.12.3", early: "2019.5.0" };

/** Deadlines (ms). A positive outcome ends a wait at once; these only bound the negative ones. */
export const TIMING = {
  settle: 6_000, // probe echoed (and every REQ acknowledged), or the connection closed
  redial: 3_000, // connect role: a new connection after a close or a refusal
  code: 2_000, // TS: the closing line with the error code, after the close was seen
  greeting: 5_000, // connect role: the subject's greeting on a fresh connection
  connect: 15_000, // connect role: the subject's first connection to a case listener
  ready: 20_000, // the subject process says EVENT ready
  case: 30_000, // one whole case
};

// ---------------------------------------------------------------------------
// one case on one connection set

class CaseContext {
  constructor(lane, kase, listeners) {
    this.lane = lane;
    this.dialect = lane.dialect;
    this.role = lane.role;
    this.case = kase;
    this.listeners = listeners; // connect role: this case's listeners
    this.conns = []; // {label, conn, marks, redials, expectAcks:Set<hex>, probes:[payload]}
    this.names = new Map(); // hex -> token, for ids the driver made
    this.byName = new Map(); // token -> bytes
  }

  /** Registers `bytes` under `name` (an identity or msg id the driver chose) and returns them. */
  name(name, bytes) {
    this.names.set(Buffer.from(bytes).toString("hex"), name);
    this.byName.set(name, bytes);
    return bytes;
  }

  /** The bytes registered under `name`. */
  named(name) {
    if (!this.byName.has(name)) throw new Error(`no bytes named ${name}`);
    return this.byName.get(name);
  }

  /**
   * Opens connection `label`. Bind role: dials the subject. Connect role: takes
   * the subject's first connection to listener `listener` and waits for its
   * greeting, since a binding peer reads the connecting end's greeting first.
   */
  async open(label, { listener = 0 } = {}) {
    let conn;
    if (this.role === "bind") conn = await dial(this.lane.port);
    else {
      conn = await this.listeners[listener].first(TIMING.connect);
      await conn.waitFor((c) => c.frames.length > 0, TIMING.greeting);
    }
    const rec = { label, conn, listener, marks: [], expectAcks: new Map(), probes: [] };
    this.conns.push(rec);
    return rec;
  }

  /** Writes one frame with `body`. */
  send(rec, body) {
    rec.conn.write(frame(body));
  }

  /** Writes raw bytes (partial frames, several frames at once). */
  raw(rec, bytes) {
    rec.conn.write(bytes);
  }

  /** One more acknowledgement of `msgId` must arrive before settle() ends (one per DATA_REQ/REQ sent). */
  expectAck(rec, msgId) {
    const hex = Buffer.from(msgId).toString("hex");
    rec.expectAcks.set(hex, (rec.expectAcks.get(hex) ?? 0) + 1);
  }

  /** Adds an observation to the connection's outcome (e.g. when the greeting came). */
  mark(rec, text) {
    rec.marks.push(text);
  }

  /** Frames from the subject on `rec`, parsed for this dialect. */
  parsed(rec) {
    return rec.conn.frames.map((f, i) => parseFrame(this.dialect, f, i === 0));
  }

  /** Payloads the subject echoed on `rec` (DATA or at-least-once frames). */
  echoes(rec) {
    return this.parsed(rec)
      .filter((p) => p.kind === "data" || p.kind === "dataReq" || p.kind === "req")
      .map((p) => p.payload);
  }

  /** Waits until `pred(rec)` holds, the connection closes or `ms` pass; "ok" | "ended" | "timeout". */
  wait(rec, pred, ms = TIMING.settle) {
    return rec.conn.waitFor(() => pred(rec), ms);
  }

  /**
   * Sends a probe DATA on `rec` and waits until the subject echoed it and
   * acknowledged every expected msg id, or closed the connection, or the
   * deadline passed. Connect role: after a close or a silent deadline, waits a
   * moment for the subject to dial again. Returns "ok" | "ended" | "timeout".
   */
  async settle(rec, { probe = true, ackEchoes = false } = {}) {
    let payload;
    if (probe) {
      payload = Buffer.from(`probe-${rec.label}${rec.probes.length ? rec.probes.length + 1 : ""}`);
      rec.probes.push(payload);
      this.send(rec, dataFrame(this.dialect, payload));
    }
    const done = () => {
      const parsed = this.parsed(rec);
      if (payload && !parsed.some((p) => (p.kind === "data" || p.kind === "dataReq" || p.kind === "req") && p.payload.equals(payload))) return false;
      const acked = new Map();
      for (const p of parsed) {
        if (p.kind !== "ack" && p.kind !== "rep") continue;
        const hex = Buffer.from(p.msgId).toString("hex");
        acked.set(hex, (acked.get(hex) ?? 0) + 1);
      }
      for (const [id, n] of rec.expectAcks) if ((acked.get(id) ?? 0) < n) return false;
      return true;
    };
    const r = await this.wait(rec, done);
    if (ackEchoes) this.ackEchoes(rec);
    if (this.role === "connect" && r !== "ok") await this.listeners[rec.listener].waitConns(1, TIMING.redial);
    return r;
  }

  /** Acknowledges every at-least-once frame the subject sent on `rec` (alo lanes). */
  ackEchoes(rec) {
    for (const p of this.parsed(rec)) if (p.kind === "dataReq" || p.kind === "req") this.send(rec, ackFrame(this.dialect, p.msgId));
  }
}

// ---------------------------------------------------------------------------
// normalisation

function fmtPayload(buf, names) {
  const named = names?.get(Buffer.from(buf).toString("hex"));
  if (named) return named;
  if (buf.length > 48) {
    const same = buf.every((x) => x === buf[0]);
    return same ? `<${buf.length} B of 0x${buf[0].toString(16).padStart(2, "0")}>` : `<${buf.length} B>`;
  }
  if (buf.length && [...buf].every((x) => x >= 0x20 && x < 0x7f && x !== 0x22)) return `"${buf.toString("latin1")}"`;
  return buf.length ? `0x${buf.toString("hex")}` : `""`;
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The outcome of one connection as comparable tokens:
 *   { label, greeting: [tok], body: [tok], acks: [tok] (sorted), marks, end, redial, code }
 */
function normalise(lane, t, rec) {
  const names = t.names;
  const made = new Map(); // subject-made msg ids -> s1, s2...
  const identity = lane.subjectIdentity; // {hex, text} from the subject's log
  const idTok = (bytes) => {
    const hex = Buffer.from(bytes).toString("hex");
    if (names.has(hex)) return names.get(hex);
    if (identity && (hex === identity.hex || Buffer.from(bytes).toString("utf8") === identity.text)) return "S";
    return `0x${hex}`;
  };
  const msgTok = (bytes) => {
    const hex = Buffer.from(bytes).toString("hex");
    if (names.has(hex)) return names.get(hex);
    if (!made.has(hex)) made.set(hex, `s${made.size + 1}`);
    return made.get(hex);
  };
  const out = { label: rec.label, greeting: [], body: [], acks: [], marks: rec.marks, end: rec.conn.ended ? "closed" : "open", redial: null, code: null };
  const frames = rec.conn.frames;
  frames.forEach((f, i) => {
    const p = parseFrame(lane.dialect, f, i === 0);
    switch (p.kind) {
      case "heartbeat":
        return;
      case "hello":
        out.greeting.push(`HELLO(v${p.version},${idTok(p.identity)}${p.identity.length !== 16 ? `,${p.identity.length} B` : ""}${p.tail > 0 ? `,+${p.tail} B` : ""})`);
        return;
      case "greeting": {
        const text = p.identity.toString("utf8");
        if (lane.dialect === "early") {
          const tok = idTok(p.identity);
          out.greeting.push(tok === "S" && UUID_TEXT.test(text) ? "ID(S as UUID text)" : `ID(${tok === "S" ? "S" : fmtPayload(p.identity)})`);
        } else out.greeting.push(`ID(${idTok(p.identity)},${p.identity.length} B)`);
        return;
      }
      case "data":
        out.body.push(`DATA(${fmtPayload(p.payload, names)})`);
        return;
      case "dataReq":
        out.body.push(`DATA_REQ(${msgTok(p.msgId)},${fmtPayload(p.payload, names)})`);
        return;
      case "req":
        out.body.push(`REQ(${msgTok(p.msgId)},${fmtPayload(p.payload, names)})`);
        return;
      case "ack":
        out.acks.push(`ACK(${msgTok(p.msgId)}${p.msgId.length !== 16 ? `,${p.msgId.length} B` : ""})`);
        return;
      case "rep":
        out.acks.push(`REP(${msgTok(p.msgId)}${p.payload.length ? `,+${fmtPayload(p.payload)}` : ""})`);
        return;
      default:
        out.body.push(`?(${fmtPayload(f)})`);
    }
  });
  out.acks.sort();
  if (lane.role === "connect") out.redial = t.listeners[rec.listener].conns.length > 1;
  return out;
}

// ---------------------------------------------------------------------------
// lanes

const HEX_ID = /identity ([0-9a-f]{32}|[0-9a-f-]{36}|\S+) role/;

/** Starts a subject, runs `cases` against it at once, kills it; resolves {caseId -> outcome}. */
async function runLane(env, lane, cases, log) {
  const listeners = new Map();
  const portList = [];
  if (lane.role === "connect") {
    for (const k of cases) {
      const ls = [];
      for (let i = 0; i < (k.listeners ?? 1); i++) {
        const l = new CaseListener();
        portList.push(await l.listen());
        ls.push(l);
      }
      listeners.set(k.id, ls);
    }
  }
  const args = {
    role: lane.role, host: "127.0.0.1", "send-mode": "roundrobin", behavior: "echo",
    count: 1_000_000, linger: 0, delivery: lane.delivery,
  };
  if (lane.role === "bind") args.port = await freePort();
  else args.ports = portList.join(",");
  if (lane.impl === "ts") args.protocol = lane.dialect;
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const kind = lane.impl === "ts" ? "ts" : `py@${lane.release}`;
  const agent = new Agent(env, `${lane.impl}-${lane.dialect}-${lane.role}-${lane.delivery}`, kind, argv, {
    env: lane.impl === "ts" ? { NODE_DEBUG: "aiomsg" } : {},
  });
  const results = new Map();
  try {
    try {
      const ready = await agent.waitReady({ timeoutMs: TIMING.ready });
      if (lane.role === "bind") lane.port = Number(ready.args[0]);
    } catch (err) {
      const why = `${lane.impl} subject did not start: ${err.message}; stderr: ${agent.stderr.slice(-3).join(" / ")}`;
      for (const k of cases) results.set(k.id, { error: why });
      return results;
    }
    const idLine = agent.stderr.find((l) => HEX_ID.test(l));
    const id = idLine ? HEX_ID.exec(idLine)[1] : "";
    lane.subjectIdentity = /^[0-9a-f]{32}$/.test(id)
      ? { hex: id, text: `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}` }
      : { hex: Buffer.from(id).toString("hex"), text: id };
    await mapLimit(cases, 64, async (k) => {
      const t = new CaseContext(lane, k, listeners.get(k.id));
      let error = null;
      let timer;
      try {
        await Promise.race([
          k.run(t),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`case did not finish within ${TIMING.case} ms`)), TIMING.case))),
        ]);
      } catch (err) {
        error = err.message ?? String(err);
      } finally {
        clearTimeout(timer);
      }
      if (error) {
        results.set(k.id, { error });
        return;
      }
      const conns = t.conns.map((rec) => normalise(lane, t, rec));
      if (lane.impl === "ts") {
        // The closing line names the connection by its remote address: the
        // driver's port (bind role) or the listener's (connect role).
        await Promise.all(
          t.conns.map(async (rec, i) => {
            if (!rec.conn.ended) return;
            const port = lane.role === "bind" ? rec.conn.localPort : t.listeners[rec.listener].port;
            const re = new RegExp(`127\\.0\\.0\\.1:${port}\\b.*?(ERR_AIOMSG_\\w+)|(ERR_AIOMSG_\\w+).*?127\\.0\\.0\\.1:${port}\\b`);
            const find = () => agent.stderr.map((l) => re.exec(l)).find(Boolean);
            await agent.waitFor(() => find(), { timeoutMs: TIMING.code, what: "code" }).catch(() => {});
            const m = find();
            conns[i].code = m ? m[1] ?? m[2] : "no code";
          }),
        );
      }
      for (const rec of t.conns) rec.conn.destroy();
      results.set(k.id, { conns });
    });
    if (agent.exit) {
      for (const k of cases) {
        const r = results.get(k.id);
        if (r && !r.error) r.note = `subject exited (${agent.exit.code ?? agent.exit.signal})`;
      }
    }
    return results;
  } finally {
    await agent.kill();
    if (process.env.AIOMSG_FIDELITY_DEBUG) log?.(`[fidelity] ${agent.name} stderr:\n${agent.stderr.join("\n")}`);
    for (const ls of listeners.values()) for (const l of ls) await l.close();
    log?.(`[fidelity] lane ${lane.impl} ${lane.dialect}${lane.impl === "py" ? `@${lane.release}` : ""} ${lane.role} ${lane.delivery}: ${cases.length} cases`);
  }
}

// ---------------------------------------------------------------------------
// comparison

function same(a, b) {
  return describeOutcome(a, { code: false }) === describeOutcome(b, { code: false });
}

/**
 * MATCH, a named departure whose rule holds, FINDING (a difference that is no
 * allowed departure, reported and pinned by the case: both outcomes exactly as
 * recorded in its `finding`), or DIFFERENCE.
 */
export function verdict(kase, role, py, ts) {
  if (!py || !ts || py.error || ts.error) return { verdict: "DIFFERENCE", why: "a side did not run" };
  if (same(py, ts)) return { verdict: "MATCH" };
  for (const id of kase.departures ?? []) {
    const d = DEPARTURES[id];
    if (!d) throw new Error(`case ${kase.id}: unknown departure ${id}`);
    if (d.holds(py, ts, kase)) return { verdict: "DEPARTURE", departure: id };
  }
  const pinned = kase.finding?.[role];
  if (pinned && pinned.py === describeOutcome(py, { code: false }) && pinned.ts === describeOutcome(ts, { code: false })) {
    return { verdict: "FINDING", why: kase.finding.note };
  }
  return { verdict: "DIFFERENCE", why: kase.departures?.length ? `not the shape of ${kase.departures.join(", ")}` : "no departure allowed" };
}

/**
 * Runs the suite. Resolves {rows, releases, seconds} where each row is
 * {id, title, dialect, role, release, py, ts, verdict, departure?, why?}.
 */
export async function runFidelity({ releases = DEFAULT_RELEASES, filter, concurrency = 4, log } = {}) {
  const started = Date.now();
  const env = new Env({ mode: "local" });
  for (const version of new Set(Object.values(releases))) {
    const r = await provisionRelease(version, { log });
    if (!r.ok) throw new Error(`aiomsg ${version} did not ${r.stage}: ${r.error}`);
  }
  const selected = CASES.filter((k) => !filter || k.id.includes(filter));
  const lanes = [];
  for (const dialect of ["v1", "legacy", "early"]) {
    for (const role of ["bind", "connect"]) {
      for (const delivery of ["at-most-once", "at-least-once"]) {
        const cases = selected.filter((k) => k.dialect === dialect && (k.roles ?? ["bind", "connect"]).includes(role) && (k.delivery ?? "at-most-once") === delivery);
        if (!cases.length) continue;
        for (const impl of ["py", "ts"]) lanes.push({ impl, dialect, role, delivery, release: releases[dialect], cases });
      }
    }
  }
  const outcomes = new Map(); // `${impl} ${dialect} ${role} ${caseId}` -> outcome
  await mapLimit(lanes, concurrency, async (lane) => {
    const res = await runLane(env, lane, lane.cases, log);
    for (const [id, o] of res) outcomes.set(`${lane.impl} ${lane.dialect} ${lane.role} ${id}`, o);
  });
  const rows = [];
  for (const k of selected) {
    for (const role of k.roles ?? ["bind", "connect"]) {
      const py = outcomes.get(`py ${k.dialect} ${role} ${k.id}`);
      const ts = outcomes.get(`ts ${k.dialect} ${role} ${k.id}`);
      rows.push({
        id: k.id, title: k.title, dialect: k.dialect, role, release: releases[k.dialect],
        py, ts, pyText: describeOutcome(py), tsText: describeOutcome(ts), ...verdict(k, role, py, ts),
      });
    }
  }
  return { rows, releases, seconds: (Date.now() - started) / 1000 };
}
