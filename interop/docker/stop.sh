#!/usr/bin/env bash
# Stops the private dockerd that provision.sh started (by its pid file), and only
# that one. Images and the build cache stay in $AIOMSG_DOCKER_STATE for the next
# run; `--purge` removes them too (and the cached Debian rootfs).
set -euo pipefail
STATE="${AIOMSG_DOCKER_STATE:-/var/lib/aiomsg-interop}"
RUNDIR="${AIOMSG_DOCKER_RUN:-/run/aiomsg-interop}"
pidfile="$RUNDIR/dockerd.pid"
if [ -f "$pidfile" ] && pid="$(cat "$pidfile")" && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "[docker-stop] dockerd $pid still running after 30 s" >&2
    exit 1
  fi
  echo "[docker-stop] stopped dockerd $pid" >&2
else
  echo "[docker-stop] no private dockerd running" >&2
fi
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$STATE"
  echo "[docker-stop] removed $STATE" >&2
fi
