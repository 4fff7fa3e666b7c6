"""Data-parallel teacher training across the processes torch's elastic launcher starts (``torchrun``).

One process per GPU (or per CPU share, with gloo): every process trains (the Trainer wraps the model in DDP and
shards the batches); what must happen once (building a tokenizer, generating, writing files, publishing to S3)
happens on the main process, and the others receive its result (``from_main``) or wait for it (``barrier``).
Outside a launch (``WORLD_SIZE`` unset) every helper is the plain single-process behaviour.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def initialise() -> None:
    """Join the launch's process group (NCCL on GPUs, gloo on the CPU) once; nothing outside a launch."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        initialise()
        dist.barrier()


def from_main(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """FUNCTION's result computed on the main process and handed to every process (picklable results only)."""
    if world_size() <= 1:
        return function(*args, **kwargs)
    import torch.distributed as dist

    initialise()
    box = [function(*args, **kwargs) if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run FUNCTION on the main process only (a file write, an upload); the others wait until it is done."""
    if is_main():
        function(*args, **kwargs)
    barrier()


def ddp_arguments() -> dict[str, Any]:
    """Trainer arguments for a launch: the backend that matches the device (none outside a launch)."""
    if world_size() <= 1:
        return {}
    import torch

    # Every parameter of the teacher takes part in each forward pass: no extra autograd traversal to look for unused ones.
    return {"ddp_backend": "nccl" if torch.cuda.is_available() else "gloo", "ddp_find_unused_parameters": False}


def launch(module: str, arguments: list[str], processes: int, environment: dict[str, str] | None = None) -> int:
    """Run ``python -m MODULE ARGUMENTS`` in PROCESSES workers under torch's elastic launcher on this node and return
    its exit code. A worker that dies fails the launch (no in-place restarts: with gloo the restarted group cannot
    reconnect through the launcher's store); running it again resumes every step from its last checkpoint."""
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "--max-restarts=0", "-m", module, *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes))),
           **(environment or {})}
    return subprocess.run(command, env=env, check=False).returncode
