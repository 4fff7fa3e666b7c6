#!/usr/bin/env bash
# The production code path on a machine with one NVIDIA GPU and nothing reachable outside it, in well under 8 minutes:
#   bash scripts/gpu-rehearsal.sh [OUT]        (default OUT: $OUT or runs/gpu-rehearsal)
# Uses the machine's CUDA torch, transformers, accelerate and peft; installs any wheels in $WHEELS (default
# wheels/, e.g. TRL's and datasets', carried along because there is no network) without an index; runs the library
# from src/ (no install). Prints tokens/s or pairs/s per stage and writes OUT/gpu_rehearsal.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-runs/gpu-rehearsal}}"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-wheels}"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PYTHON" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
fi
missing=$("$PYTHON" - <<'PY'
import importlib.util
needed = ["torch", "transformers", "accelerate", "peft", "trl", "datasets", "pydantic", "yaml", "boto3", "typer", "rich",
          "tokenizers", "safetensors"]
print(" ".join(name for name in needed if importlib.util.find_spec(name) is None))
PY
)
if [ -n "$missing" ]; then
  echo "missing Python packages: $missing — put their wheels in $WHEELS/ (pip download --no-deps) and run again" >&2
  exit 2
fi
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device visible to torch"; print("GPU:", torch.cuda.get_device_name(0), "torch", torch.__version__, "CUDA", torch.version.cuda)'
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" scripts/gpu_rehearsal.py --out "$OUT" --device cuda --size small
