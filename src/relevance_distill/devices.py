"""Which device a step runs on, and failing at once when a step that was given GPUs cannot see them.

A compiled pipeline tells each GPU step how many GPUs it requested (``GPUS_ENVIRONMENT``): a CPU build of torch, a
node without the device plugin or a wrong image would otherwise train a 7B model on the CPU for days without a word.
``device: auto`` stays for local runs and says in the log which device it chose.
"""

from __future__ import annotations

import os
from typing import Any

# Set by the compiled pipeline on every step that requests GPUs (pipelines/kubernetes.py): how many it requested.
GPUS_ENVIRONMENT = "RELEVANCE_DISTILL_GPUS"


class GPUUnavailable(RuntimeError):
    """A step was asked to run on GPUs that torch cannot see."""


def requested_gpus() -> int:
    """The GPUs this process's step requested (0: none, or not a compiled pipeline's step)."""
    value = os.environ.get(GPUS_ENVIRONMENT, "").strip() or "0"
    try:
        count = int(value)
    except ValueError:
        raise GPUUnavailable(f"{GPUS_ENVIRONMENT}={value!r} is not a whole number of GPUs") from None
    if count < 0:
        raise GPUUnavailable(f"{GPUS_ENVIRONMENT}={count} is negative")
    return count


def _torch_build(torch: Any) -> str:
    cuda = torch.version.cuda
    return f"torch {torch.__version__}, " + (f"CUDA {cuda} build" if cuda else "a CPU-only build")


def require_gpus(step: str, count: int | None = None) -> int:
    """Fail at once, naming the fix, when STEP requested GPUs (COUNT, default ``requested_gpus()``) and torch sees
    fewer; returns the count (0: nothing was requested)."""
    count = requested_gpus() if count is None else count
    if count <= 0:
        return 0
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible < count:
        fix = ("the image has a CPU-only torch: build the CUDA variant (`make images VARIANT=cuda`) and compile with "
               "it" if not torch.version.cuda else
               "the pod sees no GPU: check that the node has the NVIDIA device plugin, that the step requests "
               "nvidia.com/gpu (KubernetesConfig.gpu_resource) and that CUDA_VISIBLE_DEVICES is not emptied")
        raise GPUUnavailable(f"{step} was given {count} GPU(s) but torch sees {visible} ({_torch_build(torch)}): {fix}")
    return count


def choose_device(choice: str, step: str) -> Any:
    """The torch device for CHOICE ('auto', 'cpu' or 'cuda') after ``require_gpus``; the choice is printed."""
    import torch

    require_gpus(step)
    if choice not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"device {choice!r}; allowed: ['auto', 'cpu', 'cuda']")
    if choice == "cuda":
        require_gpus(step, 1)
    cuda = choice in {"auto", "cuda"} and torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    why = (torch.cuda.get_device_name(0) if cuda else
           "asked for" if choice == "cpu" else f"no CUDA device visible, {_torch_build(torch)}")
    print(f"{step}: device {device.type} ({why})", flush=True)
    return device
