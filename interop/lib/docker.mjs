// The Docker backend's setup for `run.mjs --docker` (and `--releases` with
// --docker): provisions the engine, Compose v2, base images and CA pass-through
// through interop/docker/provision.sh (idempotent; see there), takes the
// environment it reports (DOCKER_HOST, base image overrides, CA bundle), and
// builds the compose services. Exits the process with code 2 and a message that
// says what to do when something is missing and cannot be installed here.
import { execa } from "execa";
import path from "node:path";
import { INTEROP_DIR } from "./python.mjs";

export const COMPOSE_FILE = path.join(INTEROP_DIR, "..", "docker-compose.yml");
const PROVISION = path.join(INTEROP_DIR, "docker", "provision.sh");

/** Environment keys provision.sh may report. */
const KEYS = ["DOCKER_HOST", "AIOMSG_PYTHON_IMAGE", "AIOMSG_NODE_IMAGE", "AIOMSG_DOCKER_CA"];

/**
 * @param {{ca?: string, services?: string[], log?: (line: string) => void}} [opts]
 *   ca: "auto" (default), "none" or a CA bundle file for the image builds.
 *   services: compose services to build (default: all of the interop profile).
 * @returns {Promise<{engine: string, compose: string, env: Record<string, string>, seconds: number}>}
 */
export async function prepareDocker(opts = {}) {
  const log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const prov = await execa("bash", [PROVISION, "--ca", opts.ca ?? "auto"], {
    reject: false,
    stderr: "inherit",
  });
  if (prov.exitCode !== 0) {
    if (prov.exitCode === 3) {
      log("run.mjs --docker: the Docker backend is not available here (see above); run without --docker to use local Python venvs.");
      process.exit(2);
    }
    throw new Error(`interop/docker/provision.sh failed with ${prov.exitCode ?? prov.signal}`);
  }
  const env = {};
  for (const line of prov.stdout.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m && KEYS.includes(m[1])) env[m[1]] = m[2];
  }
  // Every later `docker` / `docker compose` child inherits these.
  for (const [k, v] of Object.entries(env)) {
    if (v) process.env[k] = v;
    else delete process.env[k];
  }
  const engine = (await execa("docker", ["info", "--format", "{{.ServerVersion}}"])).stdout.trim();
  const compose = (await execa("docker", ["compose", "version", "--short"])).stdout.trim();
  log(`[interop] docker engine ${engine}, compose ${compose}: building ${opts.services?.join(", ") ?? "all services"} (${COMPOSE_FILE})`);
  const build = await execa(
    "docker",
    ["compose", "-f", COMPOSE_FILE, "--profile", "interop", "build", ...(opts.services ?? [])],
    { reject: false, all: true, env: { BUILDKIT_PROGRESS: "plain" } },
  );
  if (build.exitCode !== 0) {
    log(build.all.split("\n").slice(-60).join("\n"));
    throw new Error(`docker compose build failed with ${build.exitCode ?? build.signal}`);
  }
  return { engine, compose, env, seconds: (Date.now() - started) / 1000 };
}
