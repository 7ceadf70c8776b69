import { v1Dialect } from "../src/wire/v1.js";
import { legacyDialect } from "../src/wire/legacy.js";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { v1, legacy, ProtocolError } from "../src/index.js";
import type { Dialect, FrameSink } from "../src/dialect.js";
import { AA, hexBuf } from "./helpers.js";

/**
 * Dispatch `body` as the decoder hands frames over: a span of a larger read,
 * here between bytes that would change the result if read (so a dialect that
 * looked outside its span fails these tests).
 */
function dispatch(d: Dialect, body: Buffer, sink: FrameSink): void {
  const buf = Buffer.concat([Buffer.from([0x05, 0x04, 0x03]), body, Buffer.from([0x04, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee])]);
  d.dispatch(buf, 3, 3 + body.length, sink);
}

function collect(): FrameSink & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    data: (b, s, e) => seen.push(`data:${b.subarray(s, e).toString("hex")}`),
    request: (b, idAt, s, e) => seen.push(`req:${b.subarray(idAt, idAt + 16).toString("hex")}:${b.subarray(s, e).toString("hex")}`),
    ack: (b, idAt) => seen.push(`ack:${b.subarray(idAt, idAt + 16).toString("hex")}`),
  };
}

describe("v1 envelopes", () => {
  it("builds the bytes Python 2026.7.1 builds", () => {
    expect(v1.hello(AA).toString("hex")).toBe("0101" + "aa".repeat(16));
    expect(v1.heartbeat().toString("hex")).toBe("02");
    expect(v1.data(Buffer.from("hello")).toString("hex")).toBe("0368656c6c6f");
    const id = hexBuf("f037db9c07de4d0681c0afbc197522e3");
    expect(v1.dataReq(id, Buffer.from("reliable-1")).toString("hex")).toBe("04f037db9c07de4d0681c0afbc197522e372656c6961626c652d31");
    expect(v1.ack(id).toString("hex")).toBe("05f037db9c07de4d0681c0afbc197522e3");
  });

  it("decodes each type and skips unknown ones", () => {
    expect(v1.decode(hexBuf("0101" + "cc".repeat(16)))).toMatchObject({ type: "hello", version: 1 });
    expect(v1.decode(hexBuf("02"))).toEqual({ type: "heartbeat" });
    expect(v1.decode(hexBuf("09ffff"))).toEqual({ type: "unknown", code: 9 });
    const sink = collect();
    dispatch(v1Dialect, hexBuf("09ffff"), sink);
    dispatch(v1Dialect, hexBuf("02"), sink);
    dispatch(v1Dialect, hexBuf("0378"), sink);
    expect(sink.seen).toEqual(["data:78"]);
  });

  it("closes on an empty frame, as Python 2026.7.1's reader takes it for end of stream", () => {
    expect(() => dispatch(v1Dialect, hexBuf(""), collect())).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_EMPTY_FRAME" }));
  });

  it("checks HELLO: type, least size and version, each with its own code; ignores a longer HELLO's tail", () => {
    const d = v1Dialect;
    expect(d.parseHello(hexBuf("0101" + "cc".repeat(16))).toString("hex")).toBe("cc".repeat(16));
    expect(() => d.parseHello(hexBuf("0102" + "cc".repeat(16)))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_BAD_VERSION" }));
    expect(() => d.parseHello(hexBuf("0101cccc"))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_BAD_HELLO" }));
    expect(() => d.parseHello(hexBuf("0101" + "cc".repeat(15)))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_BAD_HELLO" }));
    // A longer HELLO's tail is reserved: ignored.
    expect(d.parseHello(hexBuf("0101" + "cc".repeat(16) + "ee".repeat(3))).toString("hex")).toBe("cc".repeat(16));
    expect(() => d.parseHello(hexBuf("0368656c6c6f"))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_NO_HELLO" }));
  });

  it("skips a second HELLO and an ACK shorter than 17 bytes after the handshake, as Python does; a short DATA_REQ is malformed", () => {
    const sink = collect();
    dispatch(v1Dialect, hexBuf("0101" + "dd".repeat(16)), sink);
    dispatch(v1Dialect, hexBuf("05" + "ab".repeat(15)), sink);
    dispatch(v1Dialect, hexBuf("05"), sink);
    dispatch(v1Dialect, hexBuf("05" + "ab".repeat(16) + "ff"), sink);
    expect(sink.seen).toEqual(["ack:" + "ab".repeat(16)]);
    expect(() => dispatch(v1Dialect, hexBuf("04" + "ab".repeat(15)), collect())).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_MALFORMED" }));
  });

  it("property: dispatch of random bodies only raises ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (body) => {
        try {
          dispatch(v1Dialect, Buffer.from(body), collect());
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});

describe("legacy (2019) wire", () => {
  const id = hexBuf("ee34222018894d34884be9d2736103a6");

  it("builds REQ and REP headers as 2019.12.3 does", () => {
    expect(legacy.request(id, Buffer.from("reliable-1")).toString("hex")).toBe(
      "ee34222018894d34884be9d2736103a6005245510072656c6961626c652d31",
    );
    expect(legacy.reply(id).toString("hex")).toBe("ee34222018894d34884be9d2736103a60052455000");
    expect(legacy.HEARTBEAT.toString("hex")).toBe("61696f6d73672d686561727462656174");
  });

  it("classifies by the 2019 receiver's pattern rule, ambiguities included", () => {
    const sink = collect();
    const d = legacyDialect;
    dispatch(d, Buffer.from("plain"), sink);
    dispatch(d, Buffer.from("aiomsg-heartbeat"), sink); // swallowed, as 2019 does
    dispatch(d, legacy.request(id, Buffer.from("x")), sink);
    dispatch(d, legacy.reply(id), sink);
    // An application payload that happens to match the pattern is taken as a header.
    const lookalike = Buffer.concat([Buffer.alloc(16, 0x41), Buffer.from("005245510068690a", "hex")]);
    dispatch(d, lookalike, sink);
    expect(sink.seen).toEqual([
      `data:${Buffer.from("plain").toString("hex")}`,
      `req:${id.toString("hex")}:78`,
      `ack:${id.toString("hex")}`,
      `req:${"41".repeat(16)}:68690a`,
    ]);
    expect(legacy.headerKind(Buffer.from("short"))).toBeUndefined();
  });

  it("closes on an empty frame, as a 2019 reader hangs up on one", () => {
    expect(() => dispatch(legacyDialect, Buffer.alloc(0), collect())).toThrowError(
      expect.objectContaining({ code: "ERR_AIOMSG_EMPTY_FRAME" }),
    );
  });

  it("takes an identity frame of any length from 1 byte as handshake, as 2019.12.3 does; an empty one is refused", () => {
    expect(legacyDialect.parseHello(AA).equals(AA)).toBe(true);
    for (const n of [1, 15, 17, 18, 36]) expect(legacyDialect.parseHello(Buffer.alloc(n, 7)).equals(Buffer.alloc(n, 7))).toBe(true);
    expect(() => legacyDialect.parseHello(Buffer.alloc(0))).toThrowError(expect.objectContaining({ code: "ERR_AIOMSG_BAD_HELLO" }));
  });

  it("property: dispatch of random bodies only raises ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (body) => {
        try {
          dispatch(legacyDialect, Buffer.from(body), collect());
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});
