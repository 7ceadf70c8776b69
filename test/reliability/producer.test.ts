/**
 * A producer whose send() never has to wait (the peer keeps up) must still let
 * its event loop read the socket: otherwise the peer's heartbeats sit unread and
 * the producer drops a healthy connection for silence. Sender in its own process.
 */
import { describe, expect, it } from "vitest";
import * as path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Socket } from "../../packages/core/src/index.js";
import { REPO_ROOT, buildCore } from "./helpers.js";

const CHILD = path.join(REPO_ROOT, "test", "reliability", "fixtures", "streamer-child.mjs");

describe("a producer in a tight send loop", () => {
  it("keeps its connection for 4x heartbeatTimeout and delivers everything", async () => {
    const lib = await buildCore();
    const server = new Socket({ heartbeatInterval: 100, heartbeatTimeout: 400 });
    await server.bind("127.0.0.1", 0);
    const serverDrops: string[] = [];
    server.on("peerDisconnected", (i) => serverDrops.push(i.reason?.code ?? "orderly"));
    let got = 0;
    const reader = (async () => {
      for await (const [from, msg] of server.identityMessages()) {
        if (msg.toString() === "ping") await server.send("pong", { identity: from });
        else got++;
      }
    })();
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [CHILD, lib, String(server.port), "1600"], { timeout: 30_000 });
      const result = JSON.parse(stdout.trim().split("\n").pop()!) as { sent: number; drops: string[] };
      expect(result.drops, "the producer dropped its peer").toEqual(["orderly"]);
      expect(serverDrops.filter((d) => d !== "orderly")).toEqual([]);
      expect(got).toBe(result.sent);
    } finally {
      await server.close({ linger: 0 });
      await reader;
    }
  });
});
