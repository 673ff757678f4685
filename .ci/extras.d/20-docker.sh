#!/usr/bin/env bash
# The Docker sandbox's real engine for `pytest -m extra`: docker.io + debootstrap (Debian packages),
# a dockerd started in the background if no daemon answers, and the sandbox image built offline
# (debootstrap + docker import; skipped when the daemon already has this recipe's tag).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "-- apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log="${TMPDIR:-/tmp}/aibench-dockerd.log"
  echo "-- starting dockerd (log: $log)"
  # no bridge and no iptables: sandbox containers use network_mode=none, the host network is untouched
  (cd / && nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log" 2>&1 &)  # outlives this clone
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not come up within 60 s; last lines of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
fi
if [ -d .venv ]; then . .venv/bin/activate; fi
python -m aibench.sandboxes.docker build --mode offline
