#!/usr/bin/env bash
# Build the CUDA image variants here (`make images VARIANT=cuda` on a Docker daemon this script starts when none
# answers) and check inside each that torch is a CUDA build and that vLLM imports. No GPU is needed to build or to
# import; none is used. Prints each image's size and build time. REGISTRY/TAG as for `make images`.
set -euo pipefail
cd "$(dirname "$0")/.."
export REGISTRY="${REGISTRY:-relevance-distill}" TAG="${TAG:-0.1.0}"
STATE="${REHEARSAL_STATE:-/var/tmp/relevance-distill-docker}"
LOCAL_BASE="relevance-distill/base:bookworm"
mkdir -p "$STATE"
source scripts/docker-env.sh

timings="$STATE/cuda-build-times.txt"
: >"$timings"
VARIANT=cuda BASE_IMAGE="$base" ANNOTATOR_BASE="$base" TIMINGS="$timings" BUILD_LOGS="$STATE" bash scripts/build-images.sh
check='import torch, vllm, transformers; assert torch.version.cuda, "torch is a CPU build"; print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), vllm {vllm.__version__}, transformers {transformers.__version__}, GPU visible: {torch.cuda.is_available()}")'
for image in trainer annotator; do
  name="$REGISTRY/$image:$TAG-cuda"
  size=$(docker image inspect "$name" --format '{{.Size}}')
  seconds=$(awk -v image="$image" '$1 == image {print $2}' "$timings")
  echo "$name: $(awk -v bytes="$size" 'BEGIN {printf "%.2f GB", bytes / 1e9}'), built in ${seconds} s"
  docker run --rm --network none --entrypoint python "$name" -c "$check"
done
