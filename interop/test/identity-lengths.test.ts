// Legacy identities of any length against real aiomsg 2019.12.3 (which accepts
// an identity frame of any length from 1 byte): a TS legacy or auto bind end
// admits Python peers with 15-, 17-, 20- and 36-byte identities, reports each
// as it is, and a send by that identity reaches that peer only.
import { execa } from "execa";
import path from "node:path";
import { Socket } from "aiomsg-ts";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { INTEROP_DIR, provisionAll, venvPython } from "../lib/python.mjs";

const PEER = path.join(INTEROP_DIR, "python", "identity_peer.py");
const IDS = [
  Buffer.alloc(15, 0xff), // not UTF-8
  Buffer.alloc(17, 0xfe), // not UTF-8
  Buffer.from("worker-twenty-bytes!"), // UTF-8 text: an auto end answers it as early, which 2019.12.3 accepts too
  Buffer.from(Array.from({ length: 36 }, (_, i) => (i * 37 + 0x80) & 0xff)), // not UTF-8
];

const sockets: Socket[] = [];
beforeAll(async () => {
  await provisionAll(["legacy"]);
}, 600_000);
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close({ linger: 0 })));
});

describe("interop: identities of any length against aiomsg 2019.12.3", () => {
  for (const protocol of ["legacy", "auto"] as const) {
    it(`a TS ${protocol} bind end admits 15-, 17-, 20- and 36-byte identities and answers each by identity`, async () => {
      const server = new Socket({ protocol });
      sockets.push(server);
      await server.bind("127.0.0.1", 0);
      const peers = IDS.map((id) => execa(venvPython("legacy"), [PEER, String(server.port), id.toString("hex")], { reject: false, timeout: 30_000 }));
      const seen = new Map<string, string>();
      server.on("peerConnected", (p) => seen.set(p.identity.toString("hex"), p.protocol));
      for (let i = 0; i < IDS.length; i++) {
        const [from, payload] = await server.recvIdentity();
        expect(payload.toString()).toBe("hello");
        await server.send(`reply-to-${from.toString("hex")}`, { identity: from });
      }
      const results = await Promise.all(peers);
      for (let i = 0; i < IDS.length; i++) {
        const hex = IDS[i]!.toString("hex");
        expect(results[i]!.exitCode, results[i]!.stderr).toBe(0);
        // 2019.12.3 also prints its own lines on stdout ("First connection made"): take ours.
        expect(results[i]!.stdout.split("\n").find((l) => l.startsWith("reply-to-"))).toBe(`reply-to-${hex} ${protocol === "legacy" || i !== 2 ? server.identity.toString("hex") : Buffer.from(uuidText(server.identity)).toString("hex")}`);
        expect(seen.get(hex)).toBe(protocol === "auto" && i === 2 ? "early" : "legacy");
      }
    }, 60_000);
  }
});

function uuidText(id: Buffer): string {
  const h = id.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
