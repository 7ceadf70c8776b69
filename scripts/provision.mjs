#!/usr/bin/env node
// What the test command needs beyond Node and Python 3, provisioned by `pnpm test`
// itself (its `pretest` script), so a fresh machine needs no step of its own:
// - Debian packages: openssl (throwaway certificates), tmux (the bridge's terminal
//   status line), chromium (the browser test; skipped if AIOMSG_CHROMIUM names one),
//   dnsmasq-base (the fleet test's DNS server, test/fleet/).
//   As root on Debian they are installed with apt-get; otherwise this prints the
//   command to run and exits 1.
// - The other JavaScript runtimes of the runtime smoke set, Bun and Deno, from the
//   npm registry into .runtimes/ (cached: reinstalled only when the pinned version changes).
// `--runtimes` provisions only the runtimes, `--system` only the Debian packages,
// `--system=openssl,...` only those (`pnpm interop` needs openssl alone).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const RUNTIMES_DIR = path.join(REPO_ROOT, ".runtimes");

/** The runtimes pinned for the smoke set: npm packages and where their binary lands. */
export const RUNTIMES = {
  bun: { packages: ["@oven/bun-linux-x64@1.4.5"], bin: "node_modules/@oven/bun-linux-x64/bin/bun", version: "1.4.5" },
  deno: { packages: ["deno@2.9.6"], bin: "node_modules/@deno/linux-x64-glibc/deno", version: "2.9.6" },
};

function onPath(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Debian packages the tests use that this machine lacks. */
export function missingSystemPackages(wanted = ["openssl", "tmux", "chromium", "dnsmasq-base"]) {
  const need = [];
  // dnsmasq lives in /usr/sbin, which a non-root PATH may lack.
  if (wanted.includes("dnsmasq-base") && !onPath("dnsmasq") && !existsSync("/usr/sbin/dnsmasq")) need.push("dnsmasq-base");
  if (wanted.includes("openssl") && !onPath("openssl")) need.push("openssl");
  if (wanted.includes("tmux") && !onPath("tmux")) need.push("tmux");
  const chromium = process.env.AIOMSG_CHROMIUM || "/usr/bin/chromium";
  if (wanted.includes("chromium") && !existsSync(chromium)) need.push("chromium");
  return need;
}

export function provisionSystemPackages(wanted, log = (l) => process.stderr.write(`${l}\n`)) {
  const need = missingSystemPackages(wanted);
  if (need.length === 0) return true;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && onPath("apt-get")) {
    log(`[provision] installing ${need.join(" ")} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
    execFileSync("apt-get", ["install", "-y", "-qq", ...need], { stdio: ["ignore", "ignore", "inherit"], env });
    const still = missingSystemPackages(wanted);
    if (still.length === 0) return true;
    log(`[provision] still missing after apt-get: ${still.join(" ")}`);
    return false;
  }
  log(`[provision] the tests need: ${need.join(" ")}. On Debian/Ubuntu, as root: apt-get update && apt-get install -y ${need.join(" ")}`);
  if (need.includes("chromium")) log("[provision] (or point AIOMSG_CHROMIUM at a Chromium binary)");
  return false;
}

/** Installs (once) the pinned runtime from the npm registry; returns its binary's path. */
export function provisionRuntime(name, log = (l) => process.stderr.write(`${l}\n`)) {
  const rt = RUNTIMES[name];
  if (!rt) throw new TypeError(`unknown runtime ${name}`);
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`the ${name} smoke runs use the linux-x64 npm builds; this is ${process.platform}-${process.arch}`);
  }
  const dir = path.join(RUNTIMES_DIR, name);
  const bin = path.join(dir, rt.bin);
  const marker = path.join(dir, ".provisioned");
  const want = rt.packages.join(" ");
  if (existsSync(bin) && existsSync(marker) && readFileSync(marker, "utf8") === want) return bin;
  log(`[provision] installing ${want} from the npm registry into ${path.relative(REPO_ROOT, dir)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `aiomsg-runtime-${name}`, private: true }) + "\n");
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--no-save", "--ignore-scripts", ...rt.packages], {
    cwd: dir,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" });
  if (!version.includes(rt.version)) throw new Error(`${bin}: expected version ${rt.version}, got ${version.trim()}`);
  writeFileSync(marker, want);
  return bin;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const runtimesOnly = process.argv.includes("--runtimes");
  const system = process.argv.find((a) => a === "--system" || a.startsWith("--system="));
  const systemOnly = system !== undefined;
  const wanted = system?.startsWith("--system=") ? system.slice("--system=".length).split(",") : undefined;
  let ok = runtimesOnly ? true : provisionSystemPackages(wanted);
  for (const name of systemOnly ? [] : Object.keys(RUNTIMES)) {
    try {
      provisionRuntime(name);
    } catch (err) {
      process.stderr.write(`[provision] ${name}: ${err.message}\n`);
      ok = false;
    }
  }
  process.exitCode = ok ? 0 : 1;
}
