#!/usr/bin/env bash
# Provisions what `pnpm interop --docker` needs, idempotently, and reports how to
# reach it. Called by interop/lib/docker.mjs; also usable by hand:
#
#   interop/docker/provision.sh [--ca auto|none|FILE]
#
# Steps (each one is skipped when its result is already there):
#   engine   a Docker engine that answers `docker info`. The current DOCKER_HOST (or
#            the default socket) is used when it answers. Otherwise, as root on
#            Debian: apt-get install docker.io, then start a private dockerd
#            (--iptables=false --bridge=none, its own data root and socket under
#            $AIOMSG_DOCKER_STATE and $AIOMSG_DOCKER_RUN). Storage driver
#            ($AIOMSG_DOCKER_STORAGE_DRIVER): overlay2 when a test overlay mount
#            works on the data root's file system, vfs otherwise (vfs copies a whole
#            image for every container: about 10x slower container starts).
#   compose  the Compose v2 CLI plugin. Otherwise, as root with Go: build
#            github.com/docker/compose/v2/cmd@$COMPOSE_VERSION with `go install`
#            (Go module proxy) and install it as the `docker-compose` CLI plugin.
#   images   the base images of docker-compose.yml (python:3.11-slim, node:20-slim).
#            When they cannot be pulled (no route to a registry), local
#            equivalents are made: a Debian bookworm rootfs from
#            `debootstrap --variant=minbase` (the mirror apt uses) `docker import`ed,
#            plus python3/python3-venv from apt, and one with this host's `node`.
#   ca       the CA bundle handed to image builds as the build secret `ca` (pip and
#            npm inside the builds trust it): `auto` (default) = $SSL_CERT_FILE or
#            Debian's /etc/ssl/certs/ca-certificates.crt if present, `none`, or a file.
#
# stdout: KEY=VALUE lines for the caller's environment (DOCKER_HOST,
# AIOMSG_PYTHON_IMAGE, AIOMSG_NODE_IMAGE, AIOMSG_DOCKER_CA). Progress on stderr.
# Exit 0 on success; 3 when something is missing that this script may not or
# cannot install (the message says what to do); other codes when a step failed.
set -euo pipefail

STATE="${AIOMSG_DOCKER_STATE:-/var/lib/aiomsg-interop}"
RUNDIR="${AIOMSG_DOCKER_RUN:-/run/aiomsg-interop}"
COMPOSE_VERSION="${AIOMSG_COMPOSE_VERSION:-v2.29.7}"
PYTHON_IMAGE="${AIOMSG_PYTHON_IMAGE:-python:3.11-slim}"
NODE_IMAGE="${AIOMSG_NODE_IMAGE:-node:20-slim}"
FALLBACK_PYTHON_IMAGE="aiomsg-interop/python:bookworm"
FALLBACK_NODE_IMAGE="aiomsg-interop/node:bookworm"
MINBASE_IMAGE="aiomsg-interop/debian:bookworm-minbase"
CA_MODE="auto"
STORAGE_DRIVER="${AIOMSG_DOCKER_STORAGE_DRIVER:-auto}"
LOGFILE="$STATE/provision.log"

while [ $# -gt 0 ]; do
  case "$1" in
    --ca) CA_MODE="${2:?--ca needs auto, none or a file}"; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "[docker-provision] $*" >&2; }
missing() { echo "[docker-provision] $*" >&2; exit 3; }
is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }
engine_ok() { timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

# Runs a noisy step with its output in $LOGFILE; on failure shows the end of it.
quiet() {
  mkdir -p "$STATE"
  echo "+ $*" >>"$LOGFILE"
  if ! "$@" >>"$LOGFILE" 2>&1; then
    tail -40 "$LOGFILE" >&2
    echo "[docker-provision] failed: $* (full log: $LOGFILE)" >&2
    exit 1
  fi
}

apt_install() {
  log "apt-get install $*"
  quiet apt-get update -qq
  quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# overlay2 needs overlayfs on the data root's file system (not on overlayfs itself).
overlay_works() {
  local d="$STATE/overlay-probe.$$"
  mkdir -p "$d"/{lower,upper,work,merged}
  local ok=1
  if mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/merged" 2>/dev/null; then
    umount "$d/merged" && ok=0
  fi
  rm -rf "$d"
  return $ok
}

# ---------------------------------------------------------------- engine
ensure_engine() {
  if command -v docker >/dev/null && engine_ok; then
    log "engine: using ${DOCKER_HOST:-the default socket} ($(docker info --format '{{.ServerVersion}}'))"
    return
  fi
  export DOCKER_HOST="unix://$RUNDIR/docker.sock"
  if command -v docker >/dev/null && engine_ok; then
    log "engine: private dockerd $(docker info --format '{{.ServerVersion}} ({{.Driver}})') already running at $DOCKER_HOST"
    return
  fi
  if ! is_root || ! is_debian; then
    missing "no Docker engine answers \`docker info\`. Start one (e.g. install Docker Engine and run dockerd), or run this as root on Debian to have it set one up."
  fi
  command -v dockerd >/dev/null && command -v docker >/dev/null || apt_install docker.io
  local driver="$STORAGE_DRIVER"
  if [ "$driver" = auto ]; then
    mkdir -p "$STATE"
    if overlay_works; then driver=overlay2; else driver=vfs; fi
  fi
  # One data root per storage driver: images and build cache do not carry over.
  local root="$STATE/docker-$driver"
  mkdir -p "$RUNDIR" "$root"
  # A pid file left by a dockerd that is gone would make the new one refuse to start.
  if [ -f "$RUNDIR/dockerd.pid" ] && ! kill -0 "$(cat "$RUNDIR/dockerd.pid")" 2>/dev/null; then
    rm -f "$RUNDIR/dockerd.pid"
  fi
  log "engine: starting dockerd ($driver, no bridge, no iptables), socket $RUNDIR/docker.sock, data $root, log $STATE/dockerd.log"
  # setsid + nohup: the engine outlives this script; interop/docker/stop.sh ends it.
  setsid nohup dockerd \
    --data-root "$root" --exec-root "$RUNDIR/exec" --pidfile "$RUNDIR/dockerd.pid" \
    -H "$DOCKER_HOST" --storage-driver "$driver" \
    --iptables=false --ip6tables=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    engine_ok && { log "engine: dockerd $(docker info --format '{{.ServerVersion}} ({{.Driver}})') is up"; return; }
    sleep 0.5
  done
  tail -20 "$STATE/dockerd.log" >&2 || true
  echo "[docker-provision] dockerd did not answer within 60 s (log above)" >&2
  exit 1
}

# ---------------------------------------------------------------- compose
compose_ok() { docker compose version --short 2>/dev/null | grep -q '^v\{0,1\}2\.'; }

ensure_compose() {
  if compose_ok; then
    log "compose: $(docker compose version --short)"
    return
  fi
  is_root || missing "the Docker Compose v2 plugin is missing (\`docker compose version\`). Install it (https://docs.docker.com/compose/install/linux/), or run this as root to have it built with Go."
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || \
    missing "the Docker Compose v2 plugin is missing and there is no Go toolchain to build it. Install Go >= 1.21 or the compose plugin."
  local go=go; command -v go >/dev/null || go=/usr/local/go/bin/go
  local bin="$STATE/bin/compose-$COMPOSE_VERSION"
  if [ ! -x "$bin/cmd" ] || ! "$bin/cmd" version --short 2>/dev/null | grep -q '^v\{0,1\}2\.'; then
    log "compose: go install github.com/docker/compose/v2/cmd@$COMPOSE_VERSION (a few minutes on 2 cores)"
    mkdir -p "$bin"
    (cd "$STATE" && quiet env GOBIN="$bin" GOFLAGS=-buildvcs=false "$go" install \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION")
  fi
  mkdir -p /usr/local/lib/docker/cli-plugins
  install -m 0755 "$bin/cmd" /usr/local/lib/docker/cli-plugins/docker-compose
  compose_ok || { echo "[docker-provision] installed compose plugin does not answer \`docker compose version\`" >&2; exit 1; }
  log "compose: installed $(docker compose version --short) as /usr/local/lib/docker/cli-plugins/docker-compose"
}

# ---------------------------------------------------------------- CA
CA_FILE=""
resolve_ca() {
  case "$CA_MODE" in
    none) CA_FILE="" ;;
    auto)
      for f in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [ -n "$f" ] && [ -s "$f" ]; then CA_FILE="$f"; break; fi
      done ;;
    *) [ -s "$CA_MODE" ] || { echo "[docker-provision] --ca $CA_MODE: no such file" >&2; exit 2; }
       CA_FILE="$(readlink -f "$CA_MODE")" ;;
  esac
  log "ca: ${CA_FILE:-none} (build secret \`ca\`)"
}

# ---------------------------------------------------------------- base images
image_present() { docker image inspect "$1" >/dev/null 2>&1; }
try_pull() { timeout 300 docker pull -q "$1" >&2 2>/dev/null; }

debian_mirror() {
  if [ -n "${AIOMSG_DEBIAN_MIRROR:-}" ]; then echo "$AIOMSG_DEBIAN_MIRROR"; return; fi
  local m
  m="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
  [ -n "$m" ] || m="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
  echo "${m:-http://deb.debian.org/debian}"
}

ensure_minbase() {
  image_present "$MINBASE_IMAGE" && return
  local tar="$STATE/cache/bookworm-minbase.tar"
  if [ ! -s "$tar" ]; then
    is_root && is_debian || missing "cannot pull base images and cannot make them here (needs root on Debian for debootstrap). Pull $PYTHON_IMAGE and $NODE_IMAGE, or set AIOMSG_PYTHON_IMAGE / AIOMSG_NODE_IMAGE to images you have."
    command -v debootstrap >/dev/null || apt_install debootstrap
    local root="$STATE/cache/rootfs.$$"
    local mirror; mirror="$(debian_mirror)"
    log "images: debootstrap --variant=minbase bookworm from $mirror (under a minute)"
    rm -rf "$root"; mkdir -p "$STATE/cache"
    quiet debootstrap --variant=minbase bookworm "$root" "$mirror"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$root"
  fi
  log "images: docker import $tar as $MINBASE_IMAGE"
  quiet docker import "$tar" "$MINBASE_IMAGE"
}

build_fallback_python() {
  image_present "$FALLBACK_PYTHON_IMAGE" && return
  ensure_minbase
  log "images: building $FALLBACK_PYTHON_IMAGE (python3 + venv from apt)"
  quiet docker build --network host -t "$FALLBACK_PYTHON_IMAGE" - <<EOF
FROM $MINBASE_IMAGE
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* \
 && ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
EOF
}

build_fallback_node() {
  image_present "$FALLBACK_NODE_IMAGE" && return
  ensure_minbase
  local node npmdir ctx
  node="$(readlink -f "$(command -v node)")"
  npmdir="$(readlink -f "$(dirname "$node")/../lib/node_modules/npm")"
  [ -d "$npmdir" ] || missing "cannot find npm next to $node; set AIOMSG_NODE_IMAGE to a Node 20 image"
  ctx="$(mktemp -d)"
  cp "$node" "$ctx/node"; cp -a "$npmdir" "$ctx/npm"
  log "images: building $FALLBACK_NODE_IMAGE (this host's node $("$node" --version) and npm)"
  cat >"$ctx/Dockerfile" <<EOF
FROM $MINBASE_IMAGE
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx && node --version
CMD ["node"]
EOF
  quiet docker build --network host -t "$FALLBACK_NODE_IMAGE" "$ctx"
  rm -rf "$ctx"
}

ensure_images() {
  if image_present "$PYTHON_IMAGE" || try_pull "$PYTHON_IMAGE"; then
    log "images: $PYTHON_IMAGE"
  else
    log "images: cannot pull $PYTHON_IMAGE; using a local Debian bookworm image instead"
    build_fallback_python; PYTHON_IMAGE="$FALLBACK_PYTHON_IMAGE"
  fi
  if image_present "$NODE_IMAGE" || try_pull "$NODE_IMAGE"; then
    log "images: $NODE_IMAGE"
  else
    log "images: cannot pull $NODE_IMAGE; using a local Debian bookworm image instead"
    build_fallback_node; NODE_IMAGE="$FALLBACK_NODE_IMAGE"
  fi
}

command -v docker >/dev/null || { is_root && is_debian && apt_install docker.io; } || \
  missing "the docker CLI is missing. Install Docker Engine (https://docs.docker.com/engine/install/) or run this as root on Debian."
ensure_engine
ensure_compose
resolve_ca
ensure_images
echo "DOCKER_HOST=${DOCKER_HOST:-}"
echo "AIOMSG_PYTHON_IMAGE=$PYTHON_IMAGE"
echo "AIOMSG_NODE_IMAGE=$NODE_IMAGE"
echo "AIOMSG_DOCKER_CA=${CA_FILE:-/dev/null}"
