#!/usr/bin/env bash
# Usage: scripts/container/podman-service.sh install|start|stop|status|env [STATE_DIR]
#   install  install podman, runc, slirp4netns, mmdebstrap... with apt if any is missing.
#   start  install podman if it is missing (apt), write our containers.conf, and start
#          `podman system service` on a unix socket so that the docker CLI (and `sam local`)
#          can use it; prints the `export DOCKER_HOST=...` line to use. Idempotent.
#   stop   stop the service this script started.
#   status exit 0 if the service is running.
#   env    print the export lines (DOCKER_HOST, CONTAINERS_CONF).
# STATE_DIR (default .tools/container) holds the socket, containers.conf, pid and log.
#
# There is no Docker engine on our CI machines; Debian's podman is one, given two settings
# (DESIGN.md): the runc runtime (crun fails on this cgroup set-up) and explicit ulimits.
# Containers get slirp4netns networking with allow_host_loopback, so a container reaches the
# host's 127.0.0.1 at 10.0.2.2 (the container test serves its images there) and nothing
# listens anywhere but on 127.0.0.1.
set -euo pipefail

action="${1:-}"
state="$(mkdir -p "${2:-.tools/container}" && cd "${2:-.tools/container}" && pwd)"
socket="$state/podman.sock"
pidfile="$state/podman-service.pid"
conf="$state/containers.conf"

print_env() {
  echo "export DOCKER_HOST=unix://$socket CONTAINERS_CONF=$conf"
}

install_podman() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v slirp4netns >/dev/null || missing+=(slirp4netns)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v docker >/dev/null || missing+=(podman-docker)  # a `docker` CLI that runs podman
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "podman-service: installing ${missing[*]} with apt-get"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    podman runc iptables slirp4netns uidmap fuse-overlayfs mmdebstrap ca-certificates >/dev/null
}

write_conf() {
  cat >"$conf" <<'CONF'
# Written by scripts/container/podman-service.sh; used through CONTAINERS_CONF only.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
network_cmd_options = ["allow_host_loopback=true"]
CONF
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && [ -S "$socket" ]
}

case "$action" in
  install) install_podman ;;
  start)
    install_podman
    write_conf
    if running; then
      echo "podman-service: already running (pid $(cat "$pidfile"))"
    else
      rm -f "$socket"
      CONTAINERS_CONF="$conf" nohup podman system service --time=0 "unix://$socket" \
        >"$state/podman-service.log" 2>&1 &
      echo $! >"$pidfile"
      for _ in $(seq 1 100); do
        [ -S "$socket" ] && break
        sleep 0.1
      done
      [ -S "$socket" ] || { echo "podman-service: no socket; see $state/podman-service.log" >&2; exit 1; }
      echo "podman-service: started (pid $(cat "$pidfile")), socket $socket"
    fi
    print_env
    ;;
  stop)
    if running; then
      kill "$(cat "$pidfile")"
      echo "podman-service: stopped (pid $(cat "$pidfile"))"
    fi
    rm -f "$pidfile" "$socket"
    ;;
  status) running ;;
  env) print_env ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    [ "$action" = "--help" ] || [ "$action" = "-h" ]
    ;;
esac
