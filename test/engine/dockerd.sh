#!/usr/bin/env bash
# Ensures a Docker engine answers, for the real-engine tests (L6) and test/engine/build-images.sh.
#
#   test/engine/dockerd.sh
#
# - `docker info` works: says which engine answers and exits 0 (nothing is started).
# - Otherwise, as root and for the local socket only: starts `dockerd` in the background (its own
#   session, output to $ENGINE_DIR/dockerd.log), waits up to DOCKERD_WAIT_SECONDS (60) for the
#   socket to answer, exits 0 once it does. A dockerd that is already starting (its pid file names
#   a live process) is waited for, not started twice.
# - It installs nothing: the engine comes from Debian's docker.io (.ci/run installs it).
# - Exit 1 with the reason (and the log's last lines) when no engine answers.
#
# Environment: ENGINE_DIR (default <repo>/.engine), DOCKERD_WAIT_SECONDS (60), DOCKER_HOST
# (a remote engine is only checked, never started), DOCKERD_PIDFILE (/var/run/docker.pid).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
engine_dir=${ENGINE_DIR:-$root/.engine}
wait_seconds=${DOCKERD_WAIT_SECONDS:-60}
pidfile=${DOCKERD_PIDFILE:-/var/run/docker.pid}
log=$engine_dir/dockerd.log

say() { printf 'dockerd: %s\n' "$*" >&2; }
fail() {
  say "ERROR: $*"
  if [ -s "$log" ]; then
    say "last lines of $log:"
    tail -n 25 "$log" | sed 's/^/  | /' >&2
  fi
  exit 1
}

if ! [[ $wait_seconds =~ ^[0-9]+$ ]] || [ "$wait_seconds" -lt 1 ]; then
  say "ERROR: DOCKERD_WAIT_SECONDS must be a whole number of seconds >= 1, got '$wait_seconds'"
  exit 2
fi
command -v docker >/dev/null 2>&1 || fail "no docker client on PATH (Debian: apt-get install docker.io)"

answers() { docker info --format '{{.ServerVersion}}' 2>/dev/null; }

# The engine's open-files hard limit caps every container's `nofile` ulimit: a container asking
# for more does not start ("error setting rlimit type 7: operation not permitted").
# ServiceContainer asks for 65536, and HAProxy with `maxconn 20000` raises its own to about 40000.
warn_limits() {
  local pid=$1 hard
  hard=$(awk '/^Max open files/ { print $5 }' "/proc/$pid/limits" 2>/dev/null || true)
  if [[ $hard =~ ^[0-9]+$ ]] && [ "$hard" -lt 65536 ]; then
    say "WARNING: dockerd (pid $pid) may open at most $hard files, so no container can get more:"
    say "  the program's containers ask for nofile 65536 and will not start on this engine"
    say "  (raise the limit of whatever starts dockerd; without CAP_SYS_RESOURCE it cannot be raised)"
  fi
}
local_dockerd_pid() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if ! [[ $pid =~ ^[0-9]+$ ]] || ! grep -qx dockerd "/proc/$pid/comm" 2>/dev/null; then
    pid=$(pgrep -o -x dockerd 2>/dev/null || true)
  fi
  printf '%s\n' "$pid"
}
local_engine() {
  case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock | unix:///run/docker.sock) return 0 ;;
    *) return 1 ;;
  esac
}

if version=$(answers) && [ -n "$version" ]; then
  say "engine answers (server $version, ${DOCKER_HOST:-unix:///var/run/docker.sock}); nothing started"
  if local_engine; then
    pid=$(local_dockerd_pid)
    [ -z "$pid" ] || warn_limits "$pid"
  fi
  exit 0
fi

local_engine || fail "DOCKER_HOST=$DOCKER_HOST does not answer; only a local engine is started here"
[ "$(id -u)" = 0 ] || fail "no engine answers and starting dockerd needs root (run as root, or start the engine yourself)"
command -v dockerd >/dev/null 2>&1 || fail "no engine answers and dockerd is not installed (Debian: apt-get install docker.io); this script installs nothing"

mkdir -p "$engine_dir"
running_pid=""
if [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null; then
    running_pid=$pid
  fi
fi
if [ -n "$running_pid" ]; then
  say "dockerd (pid $running_pid) is running but not answering yet; waiting for it (not starting another)"
  dockerd_pid=$running_pid
else
  say "no engine answers; starting dockerd (log: $log)"
  printf '\n=== %s test/engine/dockerd.sh starts dockerd\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$log"
  # Its own session, so it outlives this script and the shell that ran it; as many open files as
  # this process may allow (Docker's systemd unit gives it 1048576).
  (
    ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || :
    exec setsid dockerd --pidfile "$pidfile"
  ) </dev/null >>"$log" 2>&1 &
  dockerd_pid=$!
fi

start=$SECONDS
while [ $((SECONDS - start)) -lt "$wait_seconds" ]; do
  if version=$(answers) && [ -n "$version" ]; then
    say "engine answers after $((SECONDS - start)) s (server $version, dockerd pid $dockerd_pid)"
    warn_limits "$dockerd_pid"
    exit 0
  fi
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    fail "dockerd (pid $dockerd_pid) exited before the socket answered"
  fi
  sleep 1
done
fail "dockerd (pid $dockerd_pid) did not answer within $wait_seconds s (it keeps running; see the log)"
