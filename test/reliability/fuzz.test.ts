/**
 * Fuzzing (issue 7). Property tests (fast-check) hold the decoders of both
 * dialects to a simple model and to one rule: whatever the bytes, the only
 * exception that escapes is a ProtocolError. Then a bounded socket fuzzer throws
 * random and mutated-valid byte streams at a live bind socket over hundreds of
 * raw connections while a real Python aiomsg peer (v1) exchanges messages with
 * it: every one of the Python peer's messages must arrive.
 */
import { v1Dialect } from "../../packages/core/src/wire/v1.js";
import { legacyDialect } from "../../packages/core/src/wire/legacy.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import * as net from "node:net";
import { FrameDecoder, bodies as viewEach, ProtocolError, Socket, v1, legacy, type ProtocolOption } from "../../packages/core/src/index.js";
import { detectDialect } from "../../packages/core/src/wire/dialects.js";
import { Cleanup, DisconnectLog, ErrorLog, Inbox, PyPeer, frame, nextEvent, pythonV1, tally, waitFor, wire, wsFrame, wsUpgradeRequest } from "./helpers.js";

const SEED = Number(process.env.AIOMSG_FUZZ_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.AIOMSG_FUZZ_RUNS ?? 300);
console.log(`[fuzz] seed ${SEED} (set AIOMSG_FUZZ_SEED to replay), ${RUNS} runs per property`);
const params = { seed: SEED, numRuns: RUNS };

// --- reference models, straight from docs/protocol.md ---------------------------

/** Frames of a whole stream, or where it stops being valid. */
function modelFrames(stream: Uint8Array, max: number): { frames: Buffer[]; tooLarge: boolean } {
  const buf = Buffer.from(stream);
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt32BE(off);
    if (len > max) return { frames, tooLarge: true };
    if (buf.length - off - 4 < len) break;
    frames.push(Buffer.from(buf.subarray(off + 4, off + 4 + len)));
    off += 4 + len;
  }
  return { frames, tooLarge: false };
}

function splitAt(stream: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, stream.length]) {
    out.push(Buffer.from(stream.subarray(prev, p)));
    prev = p;
  }
  return out;
}

type SinkCall = ["data", string] | ["request", string, string] | ["ack", string];
function recordingSink(calls: SinkCall[]) {
  const h = (b: Buffer) => b.toString("hex");
  return {
    data: (b: Buffer, s: number, e: number) => calls.push(["data", h(b.subarray(s, e))]),
    request: (b: Buffer, idAt: number, s: number, e: number) => calls.push(["request", h(b.subarray(idAt, idAt + 16)), h(b.subarray(s, e))]),
    ack: (b: Buffer, idAt: number) => calls.push(["ack", h(b.subarray(idAt, idAt + 16))]),
  };
}

function onlyProtocolErrors(fn: () => void, codes: string[]): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw new Error(`non-ProtocolError escaped: ${String(err)}`);
    if (!codes.includes(err.code)) throw new Error(`unexpected code ${err.code}`);
    return err.code;
  }
}

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const id16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

// --- property tests ---------------------------------------------------------------------

describe("FrameDecoder properties", () => {
  it("any split of a valid stream decodes to the same frames", () => {
    fc.assert(
      fc.property(fc.array(bytes(300), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map((b) => frame(b)));
        const got: Buffer[] = [];
        const d = new FrameDecoder(viewEach((b) => got.push(Buffer.from(b))));
        for (const chunk of splitAt(stream, cuts)) d.push(chunk);
        expect(got.map((b) => b.toString("hex"))).toEqual(bodies.map((b) => Buffer.from(b).toString("hex")));
        expect(d.pending).toBe(0);
      }),
      params,
    );
  });

  it("random bytes in random chunks: frames match the model, the only exception is ERR_AIOMSG_FRAME_TOO_LARGE, and after it nothing more is delivered", () => {
    const prefixHeavy = fc.oneof(
      bytes(600),
      // Streams of small valid-looking frames with random corruption.
      fc.array(bytes(40), { maxLength: 10 }).chain((bs) =>
        fc.tuple(fc.constant(Buffer.concat(bs.map((b) => frame(b)))), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, at, v]) => {
          if (s.length > 0) s[at % s.length] = v;
          return s as Uint8Array;
        }),
      ),
    );
    fc.assert(
      fc.property(prefixHeavy, fc.array(fc.nat(), { maxLength: 30 }), fc.integer({ min: 1, max: 200 }), (stream, cuts, max) => {
        const model = modelFrames(stream, max);
        const got: Buffer[] = [];
        const d = new FrameDecoder(viewEach((b) => got.push(Buffer.from(b))), max);
        let code: string | undefined;
        for (const chunk of splitAt(stream, cuts)) {
          const c = onlyProtocolErrors(() => d.push(chunk), ["ERR_AIOMSG_FRAME_TOO_LARGE"]);
          if (c !== undefined) {
            expect(code, "a stopped decoder threw again").toBeUndefined();
            code = c;
          }
        }
        expect(code !== undefined).toBe(model.tooLarge);
        expect(got.map((b) => b.toString("hex"))).toEqual(model.frames.map((b) => b.toString("hex")));
        for (const b of got) expect(b.length).toBeLessThanOrEqual(max);
      }),
      params,
    );
  });
});

describe("v1 codec properties", () => {
  it("v1.decode: random bodies decode or throw ERR_AIOMSG_MALFORMED, nothing else", () => {
    fc.assert(
      fc.property(fc.oneof(bytes(40), fc.tuple(fc.integer({ min: 1, max: 5 }), bytes(40)).map(([t, b]) => Buffer.concat([Buffer.from([t]), b]))), (body) => {
        onlyProtocolErrors(() => v1.decode(Buffer.from(body)), ["ERR_AIOMSG_MALFORMED"]);
      }),
      params,
    );
  });

  it("v1 encoders round-trip through v1.decode", () => {
    fc.assert(
      fc.property(id16, bytes(200), (id, payload) => {
        const idb = Buffer.from(id);
        const p = Buffer.from(payload);
        expect(v1.decode(v1.hello(idb))).toEqual({ type: "hello", version: 1, identity: idb });
        expect(v1.decode(v1.data(p))).toEqual({ type: "data", payload: p });
        expect(v1.decode(v1.dataReq(idb, p))).toEqual({ type: "data_req", msgId: idb, payload: p });
        expect(v1.decode(v1.ack(idb))).toEqual({ type: "ack", msgId: idb });
      }),
      params,
    );
  });

  it("v1Dialect.dispatch follows docs/protocol.md for any body and throws only ProtocolError", () => {
    fc.assert(
      fc.property(fc.oneof(bytes(60), fc.tuple(fc.integer({ min: 0, max: 6 }), bytes(60)).map(([t, b]) => Buffer.concat([Buffer.from([t]), b]))), (raw) => {
        const body = Buffer.from(raw);
        const calls: SinkCall[] = [];
        const code = onlyProtocolErrors(() => v1Dialect.dispatch(body, 0, body.length, recordingSink(calls)), ["ERR_AIOMSG_MALFORMED", "ERR_AIOMSG_EMPTY_FRAME"]);
        const h = (b: Buffer) => b.toString("hex");
        const t = body[0];
        if (body.length === 0) {
          expect([calls, code]).toEqual([[], "ERR_AIOMSG_EMPTY_FRAME"]); // closes, as Python takes it for end of stream
        } else if (t === 0x01 || t === 0x02 || (t !== undefined && (t === 0 || t > 5))) {
          expect([calls, code]).toEqual([[], undefined]); // skipped (a second HELLO too, as Python)
        } else if (t === 0x03) {
          expect([calls, code]).toEqual([[["data", h(body.subarray(1))]], undefined]);
        } else if (body.length < 17) {
          // A short DATA_REQ closes; a short ACK is skipped, as Python.
          expect([calls, code]).toEqual(t === 0x04 ? [[], "ERR_AIOMSG_MALFORMED"] : [[], undefined]);
        } else if (t === 0x04) {
          expect([calls, code]).toEqual([[["request", h(body.subarray(1, 17)), h(body.subarray(17))]], undefined]);
        } else {
          expect([calls, code]).toEqual([[["ack", h(body.subarray(1, 17))]], undefined]);
        }
      }),
      params,
    );
  });

  it("v1Dialect.parseHello accepts a version-1 HELLO of 18 bytes or more (tail ignored) and throws only ProtocolError", () => {
    fc.assert(
      fc.property(fc.oneof(
        bytes(30),
        fc.tuple(fc.integer({ min: 0, max: 2 }), id16).map(([v, id]) => wire.hello(id, v)),
        id16.map((id) => wire.hello(id)),
        fc.tuple(id16, bytes(40)).map(([id, tail]) => Buffer.concat([wire.hello(id), tail]) as Uint8Array),
      ), (raw) => {
        const body = Buffer.from(raw);
        let identity: Buffer | undefined;
        const code = onlyProtocolErrors(() => {
          identity = v1Dialect.parseHello(body);
        }, ["ERR_AIOMSG_NO_HELLO", "ERR_AIOMSG_BAD_HELLO", "ERR_AIOMSG_BAD_VERSION"]);
        const valid = body.length >= 18 && body[0] === 1 && body[1] === 1;
        expect(code === undefined).toBe(valid);
        if (valid) expect(identity!.equals(body.subarray(2, 18))).toBe(true);
      }),
      params,
    );
  });
});

describe("legacy codec properties", () => {
  const legacyBody = fc.oneof(
    bytes(60),
    fc.constant(Buffer.from(wire.legacyHeartbeat) as Uint8Array),
    fc.tuple(id16, fc.constantFrom("REQ", "REP", "REX", "req"), bytes(30)).map(([id, kind, p]) =>
      Buffer.concat([id, Buffer.from([0]), Buffer.from(kind, "latin1"), Buffer.from([0]), p]) as Uint8Array,
    ),
  );

  it("legacyDialect.dispatch follows the 2019 rules for any body and throws only ERR_AIOMSG_EMPTY_FRAME", () => {
    fc.assert(
      fc.property(legacyBody, (raw) => {
        const body = Buffer.from(raw);
        const calls: SinkCall[] = [];
        const code = onlyProtocolErrors(() => legacyDialect.dispatch(body, 0, body.length, recordingSink(calls)), ["ERR_AIOMSG_EMPTY_FRAME"]);
        const h = (b: Buffer) => b.toString("hex");
        const header = body.length >= 21 && body[16] === 0 && body[20] === 0 ? body.subarray(17, 20).toString("latin1") : "";
        if (body.length === 0) expect([calls, code]).toEqual([[], "ERR_AIOMSG_EMPTY_FRAME"]);
        else if (body.equals(wire.legacyHeartbeat)) expect([calls, code]).toEqual([[], undefined]);
        else if (header === "REQ") expect(calls).toEqual([["request", h(body.subarray(0, 16)), h(body.subarray(21))]]);
        else if (header === "REP") expect(calls).toEqual([["ack", h(body.subarray(0, 16))]]);
        else expect(calls).toEqual([["data", h(body)]]);
      }),
      params,
    );
  });

  it("legacyDialect.parseHello and detectDialect throw only ProtocolError", () => {
    fc.assert(
      fc.property(fc.oneof(bytes(30), id16, id16.map((id) => wire.hello(id) as Uint8Array)), (raw) => {
        const body = Buffer.from(raw);
        const c1 = onlyProtocolErrors(() => legacyDialect.parseHello(body), ["ERR_AIOMSG_BAD_HELLO"]);
        expect(c1 === undefined).toBe(body.length >= 1);
        let name: string | undefined;
        const c2 = onlyProtocolErrors(() => {
          name = detectDialect(body).name;
        }, ["ERR_AIOMSG_UNKNOWN_DIALECT"]);
        // Every non-empty frame has a generation: 16 bytes legacy, then 0x01 v1, then UTF-8 early, else legacy.
        let utf8 = true;
        try {
          new TextDecoder("utf-8", { fatal: true }).decode(body);
        } catch {
          utf8 = false;
        }
        if (body.length === 0) expect(c2).toBe("ERR_AIOMSG_UNKNOWN_DIALECT");
        else if (body.length === 16) expect(name).toBe("legacy");
        else if (body[0] === 1) expect(name).toBe("v1");
        else expect(name).toBe(utf8 ? "early" : "legacy");
      }),
      params,
    );
  });
});

// --- the socket fuzzer ---------------------------------------------------------------------

/** What a hostile connection sends and how it ends. */
interface Attack {
  stream: Uint8Array;
  cuts: number[];
  ending: "end" | "destroy" | "linger";
}

const v1Envelope = fc.oneof(
  bytes(64).map((p) => wire.data(p)),
  fc.tuple(id16, bytes(64)).map(([id, p]) => wire.dataReq(id, p)),
  id16.map((id) => wire.ack(id)),
  fc.constant(wire.heartbeat()),
  fc.constant(Buffer.alloc(0)),
  bytes(40).map((b) => Buffer.from(b)),
  id16.map((id) => wire.hello(id)),
);
const legacyPayload = fc.oneof(
  bytes(64).map((b) => Buffer.from(b)),
  fc.constant(wire.legacyHeartbeat),
  fc.tuple(id16, fc.constantFrom("REQ", "REP"), bytes(20)).map(([id, k, p]) => Buffer.concat([id, Buffer.from([0]), Buffer.from(k), Buffer.from([0]), p])),
);
const validV1 = fc.tuple(id16, fc.integer({ min: 0, max: 2 }), fc.array(v1Envelope, { maxLength: 12 })).map(([id, v, envs]) =>
  Buffer.concat([frame(wire.hello(id, v === 2 ? 2 : 1)), ...envs.map((e) => frame(e))]),
);
const validLegacy = fc.tuple(id16, fc.array(legacyPayload, { maxLength: 12 })).map(([id, ps]) => Buffer.concat([frame(id), ...ps.map((p) => frame(p))]));

// v1 bind ends also take WebSocket clients (docs/protocol.md): an upgrade, then masked
// binary messages whose payloads, concatenated, are the aiomsg byte stream.
const wsOpcode = fc.oneof({ weight: 6, arbitrary: fc.constant(0x2) }, { weight: 1, arbitrary: fc.constantFrom(0x0, 0x1, 0x8, 0x9, 0xa, 0x3) });
const validWs = fc
  .tuple(id16, fc.array(v1Envelope, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 4 }), fc.array(wsOpcode, { maxLength: 5 }), fc.boolean())
  .map(([id, envs, cuts, opcodes, unmasked]) => {
    const stream = Buffer.concat([frame(wire.hello(id)), ...envs.map((e) => frame(e))]);
    const parts = splitAt(stream, cuts);
    const frames = parts.map((p, i) => wsFrame(opcodes[i] ?? 0x2, p, unmasked && i === parts.length - 1 ? null : undefined));
    return Buffer.concat([wsUpgradeRequest(Buffer.from(id).toString("base64")), ...frames]);
  });

type Mutation = { kind: "flip"; at: number; bit: number } | { kind: "truncate"; at: number } | { kind: "insert"; at: number; data: Uint8Array } | { kind: "delete"; at: number; n: number } | { kind: "length"; at: number; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), data: bytes(16) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("length" as const), at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(0xffffffff), fc.nat()) }),
);
function mutate(s: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(s);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.kind) {
      case "flip":
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.data, b.subarray(at)]);
        break;
      case "delete":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
        break;
      case "length":
        if (b.length >= at + 4) b.writeUInt32BE(m.value >>> 0, at);
        break;
    }
  }
  return b;
}

const attackArb: fc.Arbitrary<Attack> = fc.record({
  stream: fc.oneof(
    { weight: 2, arbitrary: bytes(2048) },
    { weight: 1, arbitrary: fc.tuple(bytes(2048)).map(([b]) => Buffer.concat([Buffer.from([0, 0, 0]), b]) as Uint8Array) },
    { weight: 4, arbitrary: fc.tuple(validV1, fc.array(mutation, { maxLength: 4 })).map(([s, ms]) => mutate(s, ms) as Uint8Array) },
    { weight: 2, arbitrary: fc.tuple(validLegacy, fc.array(mutation, { maxLength: 4 })).map(([s, ms]) => mutate(s, ms) as Uint8Array) },
    { weight: 1, arbitrary: validV1.map((s) => s as Uint8Array) },
    { weight: 1, arbitrary: validWs.map((s) => s as Uint8Array) },
    { weight: 2, arbitrary: fc.tuple(validWs, fc.array(mutation, { maxLength: 3 })).map(([s, ms]) => mutate(s, ms) as Uint8Array) },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  ending: fc.constantFrom("end" as const, "destroy" as const, "linger" as const),
});

/** Play one attack on a fresh connection; resolves when the connection is gone. */
function play(port: number, a: Attack): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("error", () => undefined);
    s.on("data", () => undefined);
    const timer = setTimeout(() => s.destroy(), a.ending === "linger" ? 400 : 1500);
    s.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    s.once("connect", async () => {
      for (const chunk of splitAt(a.stream, a.cuts)) {
        if (s.destroyed) break;
        s.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
      if (a.ending === "end") s.end();
      else if (a.ending === "destroy") s.destroy();
    });
  });
}

const KNOWN_CODES = new Set([
  "ERR_AIOMSG_FRAME_TOO_LARGE",
  "ERR_AIOMSG_EMPTY_FRAME",
  "ERR_AIOMSG_TRUNCATED_FRAME",
  "ERR_AIOMSG_BAD_HELLO",
  "ERR_AIOMSG_BAD_VERSION",
  "ERR_AIOMSG_NO_HELLO",
  "ERR_AIOMSG_DUPLICATE_IDENTITY",
  "ERR_AIOMSG_UNKNOWN_DIALECT",
  "ERR_AIOMSG_NOT_AIOMSG", // a first byte of 0x16 reads as a TLS ClientHello on a plain port
  "ERR_AIOMSG_MALFORMED",
  "ERR_AIOMSG_WEBSOCKET",
  "ERR_AIOMSG_HANDSHAKE_TIMEOUT",
  "ERR_AIOMSG_PEER_LOST",
]);

describe("socket fuzzer with a real Python aiomsg peer (v1) exchanging messages meanwhile", () => {
  let python: string;
  const cleanup = new Cleanup();
  beforeAll(async () => {
    python = await pythonV1();
  }, 300_000);
  afterAll(() => cleanup.run());

  for (const protocol of ["v1", "auto"] as ProtocolOption[]) {
    it(`bind socket (protocol ${protocol}) survives at least ${RUNS} hostile connections; every Python message arrives`, async () => {
      const srv = cleanup.socket(new Socket({ protocol, maxFrameSize: 64 * 1024, handshakeTimeout: 1000 }));
      const errors = new ErrorLog(srv);
      const downs = new DisconnectLog(srv);
      await srv.bind("127.0.0.1", 0);
      const inbox = new Inbox(srv);
      const N = 600;
      const pyUp = nextEvent<{ identity: Buffer }>(srv, "peerConnected", () => true, 20_000);
      const py = await PyPeer.start(python, ["--role", "connect", "--port", String(srv.port), "--echo", "--source-prefix", "g", "--source-count", String(N), "--source-interval", "0.004"]);
      cleanup.add(() => py.kill());
      const pyId = (await pyUp).identity;
      const pyHex = pyId.toString("hex");

      // TS → Python (by identity), echoed back by the Python peer.
      let t = 0;
      const sendErrors: unknown[] = [];
      const pump = setInterval(() => {
        for (let k = 0; k < 3; k++) srv.send(`t${t++}`, { identity: pyId }).catch((e: unknown) => sendErrors.push(e));
      }, 5);
      cleanup.add(() => clearInterval(pump));

      const attacks = fc.sample(attackArb, { seed: SEED + (protocol === "v1" ? 0 : 1), numRuns: RUNS });
      const fuzzStart = Date.now();
      // Keep attacking until every sampled attack was played AND the Python
      // peer has sent everything (so the whole exchange happens under fire).
      const gCount = () => inbox.from(pyHex).filter((m) => m.startsWith("g")).length;
      const capAt = Date.now() + 30_000;
      let next = 0;
      const worker = async () => {
        while ((next < attacks.length || gCount() < N) && Date.now() < capAt) await play(srv.port!, attacks[next++ % attacks.length]!);
      };
      await Promise.all(Array.from({ length: 25 }, worker));
      const fuzzEnd = Date.now();
      const gDuringFuzz = gCount();
      clearInterval(pump);
      const tSent = t;

      await waitFor(() => inbox.from(pyHex).filter((m) => m.startsWith("g")).length >= N, 30_000, "every Python message");
      await waitFor(() => inbox.from(pyHex).filter((m) => m.startsWith("t")).length >= tSent, 30_000, "every echo");
      const fromPy = inbox.from(pyHex);
      const gs = fromPy.filter((m) => m.startsWith("g"));
      const ts = fromPy.filter((m) => m.startsWith("t"));
      expect(gs).toEqual(Array.from({ length: N }, (_, i) => `g${i}`));
      expect(ts).toEqual(Array.from({ length: tSent }, (_, i) => `t${i}`));
      expect(sendErrors).toEqual([]);
      expect(downs.of(pyHex), "the Python peer was never disconnected").toEqual([]);
      await waitFor(() => srv.peerCount === 1, 5000, "hostile peers gone");
      expect(srv.peerIdentities[0]!.equals(pyId)).toBe(true);

      const unknown = errors.errors.filter((e) => !KNOWN_CODES.has(e.code));
      expect(unknown.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
      const hist = Object.fromEntries(tally(errors.errors.map((e) => e.code)));
      console.log(
        `[fuzz] ${protocol}: ${next} hostile connections in ${fuzzEnd - fuzzStart} ms; ` +
          `${gDuringFuzz}/${N} Python messages arrived during the fuzzing, ${tSent} echoes; errors ${JSON.stringify(hist)}`,
      );
      // The whole exchange happened while the attack went on.
      expect(gDuringFuzz).toBe(N);
      await py.kill();
    }, 90_000);
  }
});
