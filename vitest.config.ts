import { defineConfig } from "vitest/config";

// CI sets AIOMSG_TEST_JSON to a path to also get vitest's JSON report (for the counts line).
const json = process.env.AIOMSG_TEST_JSON;

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "interop/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: json ? ["default", ["json", { outputFile: json }]] : ["default"],
  },
});
