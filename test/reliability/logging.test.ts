/**
 * No payload content is logged (issue 7). A child process runs normal traffic
 * and every error/drop path with a distinctive payload, printing each error's
 * code and message as an application would; the payload must not appear in its
 * output in any form, with NODE_DEBUG unset and (log.ts promises it) with
 * NODE_DEBUG=aiomsg too.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT, buildCore } from "./helpers.js";

const CHILD = path.join(REPO_ROOT, "test", "reliability", "fixtures", "payload-child.mjs");
let lib: string;
beforeAll(async () => {
  lib = await buildCore();
}, 120_000);

async function runChild(nodeDebug: string | undefined) {
  const payload = `AIOMSG-SECRET-${randomBytes(12).toString("hex")}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_DEBUG;
  if (nodeDebug !== undefined) env.NODE_DEBUG = nodeDebug;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [CHILD, lib, payload], { env, timeout: 30_000 });
  const p = Buffer.from(payload);
  // The payload as text, hex and base64, and its first 16 bytes (used once as an identity) as text.
  const forms = [payload, p.toString("hex"), p.toString("base64"), p.subarray(0, 16).toString("hex").slice(8), payload.slice(14)];
  return { stdout, stderr, forms };
}

const EXPECTED_CODES = [
  "ERR_AIOMSG_BAD_VERSION",
  "ERR_AIOMSG_CLOSE_LINGER",
  "ERR_AIOMSG_DUPLICATE_IDENTITY",
  "ERR_AIOMSG_FRAME_TOO_LARGE",
  "ERR_AIOMSG_HANDSHAKE_TIMEOUT",
  "ERR_AIOMSG_MALFORMED",
  "ERR_AIOMSG_NOT_CONNECTED",
  "ERR_AIOMSG_TRUNCATED_FRAME",
  "ERR_AIOMSG_UNKNOWN_DIALECT",
];

describe("payload bytes never reach the logs", () => {
  it("NODE_DEBUG unset: nothing on stdout/stderr but what the application printed, and no payload in it", async () => {
    const { stdout, stderr, forms } = await runChild(undefined);
    expect(stdout).toContain("DONE");
    const codes = /CODES (.*)/.exec(stdout)![1]!.split(",");
    expect(codes).toEqual(expect.arrayContaining(EXPECTED_CODES));
    expect(stderr).toBe("");
    for (const f of forms) {
      expect(stdout.includes(f), `payload form ${f} on stdout`).toBe(false);
    }
  });

  it("NODE_DEBUG=aiomsg: debug lines are written, and still carry no payload", async () => {
    const { stdout, stderr, forms } = await runChild("aiomsg");
    expect(stdout).toContain("DONE");
    expect(stderr).toMatch(/AIOMSG \d+:/);
    for (const f of forms) {
      expect(stdout.includes(f), `payload form ${f} on stdout`).toBe(false);
      expect(stderr.includes(f), `payload form ${f} on stderr`).toBe(false);
    }
  });
});
