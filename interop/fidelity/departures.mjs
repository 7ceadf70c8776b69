// The departures from Python aiomsg that aiomsg-ts makes on purpose (the
// deliberate, safe ones; no others are allowed), each with the rule that a
// fidelity case's two outcomes must satisfy to be reported as that departure
// instead of failing. A rule checks the TS side exactly (which connection
// closes, with which error code, and that nothing was delivered on it) and the
// Python side loosely (what it does instead), and requires every other
// connection of the case to behave the same on both sides.
import { describeConn } from "./report.mjs";

const HANDSHAKE_CODES = ["ERR_AIOMSG_BAD_HELLO", "ERR_AIOMSG_BAD_VERSION", "ERR_AIOMSG_NO_HELLO", "ERR_AIOMSG_EMPTY_FRAME", "ERR_AIOMSG_UNKNOWN_DIALECT", "ERR_AIOMSG_MALFORMED"];

const conn = (o, label) => o.conns.find((c) => c.label === label);
const sameConn = (a, b) => !!a && !!b && describeConn(a, { code: false }) === describeConn(b, { code: false });
/** Every connection but `label` behaves the same on both sides. */
const othersSame = (py, ts, label) =>
  py.conns.length === ts.conns.length && py.conns.every((c) => c.label === label || sameConn(c, conn(ts, c.label)));
const delivered = (c) => c.body.length > 0 || c.acks.length > 0;
const closedWith = (c, codes) => c.end === "closed" && codes.includes(c.code);
const echoed = (c, payload) => c.body.some((t) => t.includes(`"${payload}"`));
/**
 * After a coded close, a TS connect end dials again (as after any close); a Python
 * end that kept the connection has no reason to. Bind role: both null.
 */
const redialAfterClose = (p, t) => t.redial === p.redial || (t.redial === true && p.end === "open");

export const DEPARTURES = {
  "coded-close-handshake": {
    title: "missing, malformed or wrong-version handshake: coded close",
    reason:
      "A first frame that is no valid handshake (no HELLO, a HELLO too short to hold a version and a 16-byte identity, " +
      "a version other than 1, an identity that is not UTF-8 on the early wire) gets a coded close. Python leaves such a " +
      "connection open and dead (it stops reading it), so its peer never learns why. One exception: Python 2026.7.1 " +
      "takes a HELLO of 2 to 17 bytes, with whatever identity bytes it holds (none to 15), as a peer; the TS end " +
      "requires the 16-byte identity of the protocol.",
    holds(py, ts, kase) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      if (!p || !t || !closedWith(t, HANDSHAKE_CODES) || delivered(t) || !redialAfterClose(p, t) || !othersSame(py, ts, "A")) return false;
      // A HELLO shorter than 18 bytes: Python takes the identity bytes it holds.
      return kase.pythonAccepts ? p.end === "open" && echoed(p, "probe-A") : !delivered(p);
    },
  },
  "coded-close-duplicate": {
    title: "duplicate identity: coded close of the newer connection",
    reason:
      "A connection that presents an identity already connected is closed with ERR_AIOMSG_DUPLICATE_IDENTITY. Python 2026.7.1 " +
      "and 2019.12.3 leave it open and dead; the early releases never notice (a bytes/str mismatch), and the newer connection " +
      "takes the older one's place in routing. The older connection keeps working on the TS side.",
    holds(py, ts, kase) {
      const p = conn(py, "B");
      const t = conn(ts, "B");
      const tsA = conn(ts, "A");
      if (!p || !t || !tsA) return false;
      const tsOk = closedWith(t, ["ERR_AIOMSG_DUPLICATE_IDENTITY"]) && !delivered(t) && echoed(tsA, "probe-A") && echoed(tsA, "probe-A2");
      const pyOk = p.end === "open" && (kase.dialect === "early" || !delivered(p));
      return tsOk && pyOk && (kase.dialect === "early" || othersSame(py, ts, "B"));
    },
  },
  "coded-close-empty-frame": {
    title: "empty legacy frame: coded close",
    reason:
      "An empty frame gets a coded close (ERR_AIOMSG_EMPTY_FRAME). Python's reader takes an empty frame for the end of " +
      "the stream: as the identity frame it leaves the connection open and dead; after the handshake it ends the connection.",
    holds(py, ts) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      return !!p && !!t && closedWith(t, ["ERR_AIOMSG_EMPTY_FRAME", "ERR_AIOMSG_MALFORMED", "ERR_AIOMSG_BAD_HELLO"]) && !echoed(t, "probe-A") && !echoed(p, "probe-A") && redialAfterClose(p, t) && othersSame(py, ts, "A");
    },
  },
  "coded-close-truncated-req": {
    title: "truncated DATA_REQ: coded close",
    reason:
      "A DATA_REQ shorter than 17 bytes (its msg id cut short) gets a coded close (ERR_AIOMSG_MALFORMED). Python delivers " +
      "a truncated message (an empty payload) and acknowledges the short id.",
    holds(py, ts) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      return !!p && !!t && closedWith(t, ["ERR_AIOMSG_MALFORMED"]) && !delivered(t) && p.end === "open" && p.acks.some((a) => a.includes("q10,10 B")) && redialAfterClose(p, t) && othersSame(py, ts, "A");
    },
  },
  "resend-keeps-id": {
    title: "at-least-once resend: same msg id, bounded",
    reason:
      "Unacknowledged messages are resent with the same msg id every resendInterval, and dropped (a `dropped` event, " +
      "ERR_AIOMSG_RETRIES_EXHAUSTED) after maxResends. Python's resend counter restarts on every resend, so it resends " +
      "for ever, each copy with a new msg id.",
    holds(py, ts) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      if (!p || !t || p.body.length !== 2 || t.body.length !== 2) return false;
      const [p1, p2] = p.body;
      const [t1, t2] = t.body;
      const kind = (x) => x.replace(/\(.*$/, "");
      const payload = (x) => x.replace(/^[^,]*,/, "");
      return (
        /\(s1,/.test(p1) && /\(s2,/.test(p2) && /\(s1,/.test(t1) && t2 === t1 &&
        kind(p1) === kind(t1) && payload(p1) === payload(t1) && payload(p2) === payload(t1) &&
        p.greeting.join() === t.greeting.join() && p.end === t.end && othersSame(py, ts, "A")
      );
    },
  },
  "frame-limit": {
    title: "frame over the size limit: coded close",
    reason:
      "A frame over maxFrameSize (default 16 MiB; the `maxFrameSize` option raises it) closes the connection with " +
      "ERR_AIOMSG_FRAME_TOO_LARGE, and a first frame over the handshake's 4 KiB bound (MAX_HELLO_SIZE) with " +
      "ERR_AIOMSG_BAD_HELLO on a bind end, ERR_AIOMSG_NOT_AIOMSG on a connect end (which takes a peer that opens with " +
      "a frame longer than any greeting for another protocol, and backs off before dialling again); the frame is not " +
      "delivered. Python has no limit: it reads and delivers any frame.",
    holds(py, ts) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      return !!p && !!t && closedWith(t, ["ERR_AIOMSG_FRAME_TOO_LARGE", "ERR_AIOMSG_BAD_HELLO", "ERR_AIOMSG_NOT_AIOMSG"]) && !echoed(t, "probe-A") && p.end === "open" && echoed(p, "probe-A") && othersSame(py, ts, "A");
    },
  },
  "v1-bind-greets-after-hello": {
    title: "v1 bind end greets after the peer's HELLO",
    reason:
      "A v1 bind end completes its HELLO once it has accepted the peer's HELLO; on the first byte it sends only 00 00 00, " +
      "the start of that HELLO's length prefix, which tells an auto connect end to speak first. Python 2026.7.1 sends its " +
      "whole HELLO as soon as the first byte arrives (it reads one byte to tell raw TCP from a WebSocket upgrade). A connect " +
      "end sends its HELLO first and waits for the bind end's either way, so no peer can tell.",
    holds(py, ts) {
      const p = conn(py, "A");
      const t = conn(ts, "A");
      if (!p || !t) return false;
      const strip = (c) => describeConn({ ...c, marks: [] }, { code: false });
      return p.marks.join() === "greeted after 1 byte" && t.marks.join() === "no greeting after 1 byte" && strip(p) === strip(t) && othersSame(py, ts, "A");
    },
  },
};
