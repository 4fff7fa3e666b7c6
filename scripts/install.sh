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
echo "installed relevance-distill[${EXTRAS}] into ${VENV}"
