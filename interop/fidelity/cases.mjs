// The fidelity cases: byte sequences, valid and hostile, that the driver plays
// against a subject (real Python aiomsg, or the TS socket in the same role and
// dialect). A case is
//   { id, dialect: "v1"|"legacy"|"early", title, roles? (default both),
//     delivery? (the subject's; default at-most-once), listeners? (connect role:
//     how many driver listeners the case needs, default 1),
//     departures? (ids from departures.mjs that may explain a difference),
//     finding? ({note, bind?: {py, ts}, connect?: {py, ts}}: a reported difference
//     that is no allowed departure, pinned word for word),
//     run(t) }
// run() opens connections with t.open(), writes frames with t.send()/t.raw(),
// and ends each connection with t.settle() (a probe DATA that the echo subject
// must send back, or the connection closing, or the deadline). See suite.mjs.
import { randomBytes } from "node:crypto";
import { frame, greeting, HEARTBEAT_LEGACY, legacy, newIdentity, v1 } from "./frames.mjs";

const HANDSHAKE = ["coded-close-handshake"];
const CASES = [];
const add = (c) => CASES.push(c);

/** A normal handshake on a new connection: the driver's identity `D`. */
async function handshake(t, label = "A", opts = {}) {
  const a = await t.open(label, opts);
  const id = t.name(opts.idName ?? "D", opts.identity ?? newIdentity(t.dialect));
  t.send(a, greeting(t.dialect, id));
  return a;
}

/** Handshake, then `bodies` as frames, then settle. */
const after = (bodies, opts = {}) => async (t) => {
  const a = await handshake(t);
  for (const body of typeof bodies === "function" ? bodies(t, a) : bodies) t.send(a, body);
  await t.settle(a, opts);
};

/** The connection's first frame is `body` (instead of a greeting), then settle. */
const firstFrame = (body) => async (t) => {
  const a = await t.open("A");
  t.send(a, typeof body === "function" ? body(t) : body);
  await t.settle(a);
};

/** Two connections presenting the same identity: the second is refused (or not). */
const duplicate = async (t) => {
  const a = await handshake(t, "A");
  await t.settle(a);
  const b = await t.open("B", { listener: 1 });
  t.send(b, greeting(t.dialect, t.named("D")));
  await t.settle(b);
  await t.settle(a);
};

/** A frame over 16 MiB (the TS default maxFrameSize) carrying a DATA payload. */
const oversized = (t) => {
  const payload = Buffer.alloc(16 * 1024 * 1024, 0x78);
  return [t.dialect === "v1" ? v1.data(payload) : legacy.data(Buffer.concat([payload, Buffer.from("x")]))];
};

// ---------------------------------------------------------------------------
// v1 (aiomsg 2026.7.1)

add({ id: "v1/hello-18", dialect: "v1", title: "HELLO of 18 bytes, then DATA", run: after([]) });
for (const [n, tail] of [[19, 1], [20, 2], [64, 46], [4096, 4078]]) {
  add({
    id: `v1/hello-${n}`, dialect: "v1", title: `HELLO of ${n} bytes (${tail} reserved byte${tail === 1 ? "" : "s"} after the identity)`,
    run: async (t) => {
      const a = await t.open("A");
      t.send(a, v1.hello(t.name("D", randomBytes(16)), { tail: randomBytes(tail) }));
      await t.settle(a);
    },
  });
}
add({
  id: "v1/hello-4097", dialect: "v1", title: "HELLO of 4097 bytes (over the TS handshake bound)", departures: ["frame-limit"],
  run: async (t) => {
    const a = await t.open("A");
    t.send(a, v1.hello(t.name("D", randomBytes(16)), { tail: randomBytes(4079) }));
    await t.settle(a);
  },
});
add({ id: "v1/hello-17", dialect: "v1", title: "HELLO of 17 bytes (15-byte identity)", departures: HANDSHAKE, pythonAccepts: true, run: firstFrame((t) => v1.hello(t.name("D15", randomBytes(15)))) });
add({ id: "v1/hello-2", dialect: "v1", title: "HELLO of 2 bytes (no identity)", departures: HANDSHAKE, pythonAccepts: true, run: firstFrame(Buffer.from([0x01, 0x01])) });
add({ id: "v1/hello-1", dialect: "v1", title: "HELLO of 1 byte (no version)", departures: HANDSHAKE, run: firstFrame(Buffer.from([0x01])) });
add({ id: "v1/hello-version-2", dialect: "v1", title: "HELLO with version 2", departures: HANDSHAKE, run: firstFrame((t) => v1.hello(t.name("D", randomBytes(16)), { version: 2 })) });
add({ id: "v1/first-data", dialect: "v1", title: "DATA as the first frame (no HELLO)", departures: HANDSHAKE, run: firstFrame(v1.data("early bird")) });
add({ id: "v1/first-heartbeat", dialect: "v1", title: "HEARTBEAT as the first frame", departures: HANDSHAKE, run: firstFrame(v1.heartbeat()) });
add({ id: "v1/first-empty", dialect: "v1", title: "an empty frame as the first frame", departures: HANDSHAKE, run: firstFrame(Buffer.alloc(0)) });
add({ id: "v1/first-unknown", dialect: "v1", title: "an unknown type (0x09) as the first frame", departures: HANDSHAKE, run: firstFrame(Buffer.from([0x09, 1, 2, 3])) });
add({ id: "v1/duplicate-identity", dialect: "v1", title: "a second connection with an identity already connected", listeners: 2, departures: ["coded-close-duplicate"], run: duplicate });
add({
  id: "v1/bind-greeting", dialect: "v1", roles: ["bind"], title: "when the bind end greets: after one byte (0x00) of the peer's HELLO", departures: ["v1-bind-greets-after-hello"],
  run: async (t) => {
    const a = await t.open("A");
    const hello = frame(v1.hello(t.name("D", randomBytes(16))));
    t.raw(a, hello.subarray(0, 1));
    const r = await t.wait(a, (rec) => rec.conn.frames.length > 0, 2_000);
    t.mark(a, r === "ok" ? "greeted after 1 byte" : "no greeting after 1 byte");
    t.raw(a, hello.subarray(1));
    await t.settle(a);
  },
});
add({
  id: "v1/hello-and-data-one-write", dialect: "v1", title: "HELLO and two DATA in one TCP write",
  run: async (t) => {
    const a = await t.open("A");
    t.raw(a, Buffer.concat([frame(v1.hello(t.name("D", randomBytes(16)))), frame(v1.data("one")), frame(v1.data("two"))]));
    await t.settle(a);
  },
});
add({
  id: "v1/split-writes", dialect: "v1", title: "HELLO and DATA written a byte at a time",
  run: async (t) => {
    const a = await t.open("A");
    const bytes = Buffer.concat([frame(v1.hello(t.name("D", randomBytes(16)))), frame(v1.data("split"))]);
    for (let i = 0; i < bytes.length; i++) {
      t.raw(a, bytes.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    await t.settle(a);
  },
});
add({ id: "v1/second-hello", dialect: "v1", title: "a second HELLO (same identity) after the handshake", run: after((t) => [v1.hello(t.named("D"))]) });
add({ id: "v1/second-hello-other", dialect: "v1", title: "a second HELLO with another identity, 64 bytes", run: after((t) => [v1.hello(t.name("E", randomBytes(16)), { tail: randomBytes(46) })]) });
add({ id: "v1/second-hello-version-2", dialect: "v1", title: "a second HELLO with version 2", run: after((t) => [v1.hello(t.name("E", randomBytes(16)), { version: 2 })]) });
add({ id: "v1/heartbeat", dialect: "v1", title: "HEARTBEAT", run: after([v1.heartbeat()]) });
add({ id: "v1/heartbeat-tail", dialect: "v1", title: "HEARTBEAT with two trailing bytes", run: after([Buffer.from([0x02, 0xff, 0xfe])]) });
add({ id: "v1/data", dialect: "v1", title: "DATA", run: after([v1.data("hello")]) });
add({ id: "v1/data-empty", dialect: "v1", title: "DATA with an empty payload", run: after([v1.data("")]) });
add({ id: "v1/data-binary", dialect: "v1", title: "DATA with a binary payload (not UTF-8)", run: after([v1.data(Buffer.from([0xff, 0x00, 0xfe, 0x80]))]) });
add({
  id: "v1/data-req", dialect: "v1", title: "DATA_REQ: acknowledged and delivered",
  run: after((t, a) => {
    const q = t.name("q1", randomBytes(16));
    t.expectAck(a, q);
    return [v1.dataReq(q, "needs ack")];
  }),
});
add({
  id: "v1/data-req-empty", dialect: "v1", title: "DATA_REQ of 17 bytes (empty payload)",
  run: after((t, a) => {
    const q = t.name("q1", randomBytes(16));
    t.expectAck(a, q);
    return [v1.dataReq(q, "")];
  }),
});
add({
  id: "v1/data-req-same-id-twice", dialect: "v1", title: "two DATA_REQ with the same msg id",
  run: after((t, a) => {
    const q = t.name("q1", randomBytes(16));
    t.expectAck(a, q);
    t.expectAck(a, q);
    return [v1.dataReq(q, "first"), v1.dataReq(q, "second")];
  }),
});
add({
  id: "v1/data-req-truncated", dialect: "v1", title: "DATA_REQ of 11 bytes (msg id cut short)", departures: ["coded-close-truncated-req"],
  run: after((t, a) => {
    const q = t.name("q10", randomBytes(10));
    t.expectAck(a, q);
    return [Buffer.concat([Buffer.from([0x04]), q])];
  }),
});
add({ id: "v1/ack-unknown", dialect: "v1", title: "ACK for a msg id never sent", run: after((t) => [v1.ack(t.name("q1", randomBytes(16)))]) });
add({ id: "v1/ack-short", dialect: "v1", title: "ACK of 9 bytes (short msg id)", run: after([Buffer.concat([Buffer.from([0x05]), randomBytes(8)])]) });
add({ id: "v1/ack-bare", dialect: "v1", title: "ACK of 1 byte (no msg id)", run: after([Buffer.from([0x05])]) });
add({ id: "v1/ack-long", dialect: "v1", title: "ACK of 21 bytes (4 bytes after the msg id)", run: after([Buffer.concat([Buffer.from([0x05]), randomBytes(20)])]) });
add({ id: "v1/unknown-type", dialect: "v1", title: "unknown types 0x06 and 0xff", run: after([Buffer.from([0x06, 1, 2]), Buffer.from([0xff])]) });
// Python 2026.7.1's frame reader returns b"" for an empty frame, which its
// connection loop takes for end of stream: it closes. TS closes too.
add({ id: "v1/empty-frame", dialect: "v1", title: "an empty frame after the handshake", run: after([Buffer.alloc(0)]) });
add({ id: "v1/frame-over-16MiB", dialect: "v1", title: "DATA frame of 16 MiB + 1 byte (over the TS maxFrameSize)", departures: ["frame-limit"], run: after(oversized) });
add({
  id: "v1/eof-mid-frame", dialect: "v1", title: "EOF in the middle of a frame",
  run: async (t) => {
    const a = await handshake(t);
    await t.settle(a);
    t.raw(a, frame(v1.data("cut")).subarray(0, 6));
    a.conn.socket.end();
    await t.settle(a, { probe: false });
  },
});
add({
  id: "v1/alo-acked", dialect: "v1", delivery: "at-least-once", title: "at-least-once echo: DATA_REQ out, acknowledged",
  run: async (t) => {
    const a = await handshake(t);
    t.send(a, v1.data("please ack"));
    await t.wait(a, (rec) => t.echoes(rec).length > 0);
    t.ackEchoes(a);
    await t.settle(a, { ackEchoes: true });
  },
});
add({
  id: "v1/alo-resend", dialect: "v1", delivery: "at-least-once", title: "at-least-once echo never acknowledged: the resend", departures: ["resend-keeps-id"],
  run: async (t) => {
    const a = await handshake(t);
    t.send(a, v1.data("no ack"));
    await t.wait(a, (rec) => t.echoes(rec).length >= 2, 12_000);
  },
});

// ---------------------------------------------------------------------------
// legacy (aiomsg 2019.12.3) and early (2019.5.0): the same frames after the handshake

for (const dialect of ["legacy", "early"]) {
  const D = dialect;
  if (dialect === "legacy") {
    for (const n of [16, 15, 17, 36, 1]) {
      add({ id: `legacy/identity-${n}`, dialect: D, title: `identity frame of ${n} bytes`, run: async (t) => {
        const a = await t.open("A");
        t.send(a, t.name("D", randomBytes(n)));
        await t.settle(a);
      } });
    }
    add({ id: "legacy/identity-v1-hello", dialect: D, title: "a v1 HELLO (18 bytes) as the identity frame", run: async (t) => {
      const a = await t.open("A");
      t.send(a, t.name("D", v1.hello(randomBytes(16))));
      await t.settle(a);
    } });
  } else {
    const texts = {
      "uuid-text": () => newIdentity("early"),
      "16-chars": () => Buffer.from(`sixteen-chars-${randomBytes(1).toString("hex")}`),
      "1-char": () => Buffer.from("z"),
      "100-chars": () => Buffer.from("n".repeat(88) + randomBytes(6).toString("hex")),
      "non-ascii": () => Buffer.from(`ünïcødé-ñame-✓-${randomBytes(2).toString("hex")}`),
    };
    for (const [name, make] of Object.entries(texts)) {
      add({ id: `early/identity-${name}`, dialect: D, title: `identity text: ${name}`, run: async (t) => {
        const a = await t.open("A");
        t.send(a, t.name("D", make()));
        await t.settle(a);
      } });
    }
    for (const n of [16, 36]) {
      add({ id: `early/identity-invalid-utf8-${n}`, dialect: D, title: `identity frame of ${n} bytes that is not UTF-8`, departures: HANDSHAKE, run: async (t) => {
        const a = await t.open("A");
        t.send(a, t.name("D", Buffer.concat([Buffer.from([0xff, 0xfe]), randomBytes(n - 2)])));
        await t.settle(a);
      } });
    }
  }
  add({ id: `${D}/identity-empty`, dialect: D, title: "an empty identity frame", departures: ["coded-close-empty-frame"], run: firstFrame(Buffer.alloc(0)) });
  add({ id: `${D}/duplicate-identity`, dialect: D, title: "a second connection with an identity already connected", listeners: 2, departures: ["coded-close-duplicate"], run: duplicate });
  add({
    id: `${D}/identity-and-data-one-write`, dialect: D, title: "identity and two messages in one TCP write",
    run: async (t) => {
      const a = await t.open("A");
      t.raw(a, Buffer.concat([frame(t.name("D", newIdentity(D))), frame(legacy.data("one")), frame(legacy.data("two"))]));
      await t.settle(a);
    },
  });
  add({ id: `${D}/heartbeat`, dialect: D, title: "heartbeat", run: after([legacy.heartbeat()]) });
  add({ id: `${D}/data`, dialect: D, title: "a message", run: after([legacy.data("hello")]) });
  add({ id: `${D}/data-heartbeat-bytes`, dialect: D, title: "a message equal to the heartbeat bytes (swallowed)", run: after([Buffer.from(HEARTBEAT_LEGACY)]) });
  add({ id: `${D}/data-binary`, dialect: D, title: "a binary message (not UTF-8)", run: after([Buffer.from([0xff, 0x00, 0xfe, 0x80])]) });
  add({ id: `${D}/data-identity-again`, dialect: D, title: "a 16-byte message after the handshake (a second identity frame)", run: after((t) => [t.name("D2", randomBytes(16))]) });
  add({
    id: `${D}/req`, dialect: D, title: "REQ header: REP and delivery",
    run: after((t, a) => {
      const q = t.name("q1", randomBytes(16));
      t.expectAck(a, q);
      return [legacy.req(q, "needs rep")];
    }),
  });
  // No REQ with an empty payload here: the echo would send an empty message back,
  // and Python 2019's writer takes an empty message for its stop signal, ending
  // its own connection; that is the subject application's doing, not the wire's.
  add({ id: `${D}/req-20-bytes`, dialect: D, title: "20 bytes that start like a REQ header (no closing 00)", run: after((t) => [t.name("r20", Buffer.concat([randomBytes(16), Buffer.from([0x00, 0x52, 0x45, 0x51])]))]) });
  add({ id: `${D}/rep-unknown`, dialect: D, title: "REP for a msg id never sent", run: after((t) => [legacy.rep(t.name("q1", randomBytes(16)))]) });
  add({ id: `${D}/rep-with-payload`, dialect: D, title: "REP header followed by payload bytes", run: after((t) => [Buffer.concat([legacy.rep(t.name("q1", randomBytes(16))), Buffer.from("tail")])]) });
  add({ id: `${D}/empty-frame`, dialect: D, title: "an empty frame after the handshake", departures: ["coded-close-empty-frame"], run: after([Buffer.alloc(0)]) });
  add({ id: `${D}/frame-over-16MiB`, dialect: D, title: "a message frame of 16 MiB + 1 byte (over the TS maxFrameSize)", departures: ["frame-limit"], run: after(oversized) });
  add({
    id: `${D}/alo-acked`, dialect: D, delivery: "at-least-once", title: "at-least-once echo: REQ out, REP back",
    run: async (t) => {
      const a = await handshake(t);
      t.send(a, legacy.data("please ack"));
      await t.wait(a, (rec) => t.echoes(rec).length > 0);
      t.ackEchoes(a);
      await t.settle(a, { ackEchoes: true });
    },
  });
  add({
    id: `${D}/alo-resend`, dialect: D, delivery: "at-least-once", title: "at-least-once echo never acknowledged: the resend", departures: ["resend-keeps-id"],
    run: async (t) => {
      const a = await handshake(t);
      t.send(a, legacy.data("no ack"));
      await t.wait(a, (rec) => t.echoes(rec).length >= 2, 12_000);
    },
  });
}

for (const c of CASES) if (new Set(CASES.map((x) => x.id)).size !== CASES.length) throw new Error(`duplicate case id ${c.id}`);

export { CASES };
