#!/usr/bin/env bash
# Podman as a second Docker-API engine for `pytest -m extra` (tests/sandboxes/test_podman.py runs
# the Docker sandbox's tests against it): podman from Debian's packages, its Docker-compatible API
# service on /run/podman/podman.sock started in the background if it does not answer, and the
# sandbox image copied in from Docker's store (20-docker.sh built it; no registry here).
set -euo pipefail
cd "$(dirname "$0")/../.."
SOCK=/run/podman/podman.sock
if ! command -v podman >/dev/null 2>&1; then
  echo "-- apt-get install podman"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
fi
if ! docker -H "unix://$SOCK" version >/dev/null 2>&1; then
  log="${TMPDIR:-/tmp}/aibench-podman.log"
  echo "-- starting podman system service (log: $log)"
  mkdir -p "$(dirname "$SOCK")"
  # from /: the service outlives this (temporary) clone, and conmon fails in a deleted working dir
  (cd / && nohup podman system service --time=0 "unix://$SOCK" >"$log" 2>&1 &)
  for _ in $(seq 60); do
    docker -H "unix://$SOCK" version >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker -H "unix://$SOCK" version >/dev/null 2>&1; then
    echo "podman's API service did not come up within 60 s; last lines of $log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
fi
if [ -d .venv ]; then . .venv/bin/activate; fi
tag="$(python -m aibench.sandboxes.docker tag)"
if podman image exists "$tag"; then
  echo "$tag already in podman's store"
else
  echo "-- docker save $tag | podman load"
  docker save "$tag" | podman load -q
fi
