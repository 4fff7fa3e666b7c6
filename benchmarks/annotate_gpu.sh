#!/usr/bin/env bash
# Annotation throughput on a GPU machine: production vLLM (CUDA build, tensor parallelism) against the
# transformers engine, on the same teacher and pairs, in one run.
#
#   bash benchmarks/annotate_gpu.sh MODEL_DIR [TENSOR_PARALLEL_SIZE=number of GPUs] [PAIRS=2000]
#
# MODEL_DIR is a local Hugging Face directory of the teacher (e.g. the `dpo/model` that the production
# teacher profile published, or any Qwen2.5-7B-Instruct checkout). Creates .venv-gpu with a CUDA torch and the
# `annotate` extra (vLLM), never the CPU wheels of scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL_DIR="${1:?usage: annotate_gpu.sh MODEL_DIR [TENSOR_PARALLEL_SIZE] [PAIRS]}"
GPUS="$(nvidia-smi --list-gpus | wc -l)"
TP="${2:-$GPUS}"
PAIRS="${3:-2000}"
VENV="${VENV:-.venv-gpu}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # vLLM pins the CUDA torch it was built against; let it choose.
  "$VENV/bin/python" -m pip install --quiet -e ".[annotate,train]"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv
"$VENV/bin/python" benchmarks/annotate_throughput.py --teacher "$MODEL_DIR" --pairs "$PAIRS" --samples 5 \
    --max-new-tokens 192 --batch-size 64 --max-model-len 4096 --tensor-parallel-size "$TP"
