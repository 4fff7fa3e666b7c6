"""Which device a step runs on, how many CPU threads it uses, and failing at once when a step that was given GPUs
cannot see them.

A compiled pipeline tells each GPU step how many GPUs it requested (``GPUS_ENVIRONMENT``): a CPU build of torch, a
node without the device plugin or a wrong image would otherwise train a 7B model on the CPU for days without a word.
``device: auto`` stays for local runs and says in the log which device it chose.

CPU threads: torch starts one intra-op thread per CPU it may run on, and a pod's ``resources.limits.cpu`` does not
change which CPUs those are (the cgroup's CPU quota throttles the pod instead). A step with a 2-CPU limit on a
64-core node would run 64 threads in the time of 2 and spend most of it throttled, so every step fits torch's threads
to the cgroup's limit (``fit_cpu_threads``) unless it was given a thread count.

CPU memory: glibc's malloc serves every allocation above its mmap threshold (128 KiB, rising to at most 32 MiB) with a
fresh ``mmap`` and hands it back with ``munmap`` when it is freed. A training step frees and allocates the same
activation tensors every step, so each step faults their pages in and has the kernel zero them again; a step on the
CPU keeps freed memory for the next allocation instead (``keep_freed_memory``).
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Set by the compiled pipeline on every step that requests GPUs (pipelines/kubernetes.py): how many it requested.
GPUS_ENVIRONMENT = "RELEVANCE_DISTILL_GPUS"


# Set to 0 to leave glibc's malloc as it is on a CPU step (``keep_freed_memory``).
KEEP_FREED_MEMORY_ENVIRONMENT = "RELEVANCE_DISTILL_KEEP_FREED_MEMORY"
# The step that first kept freed memory in this process (``keep_freed_memory`` says so once).
_FREED_MEMORY_KEPT: list[str] = []
# glibc's mallopt parameters (malloc.h) and the environment variables that set them, or glibc's tunables, at start.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                       "GLIBC_TUNABLES")
# Allocators a user preloads instead of glibc's (their own settings then apply, ours would not).
_PRELOADED_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")

# Where the kernel's cgroup hierarchies are mounted (v2: one tree; v1: one tree per controller, e.g. ``cpu,cpuacct``).
CGROUP_ROOT = Path("/sys/fs/cgroup")


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


def choose_device(choice: str, step: str, threads: int | None = None) -> Any:
    """The torch device for CHOICE ('auto', 'cpu' or 'cuda') after ``require_gpus``; the choice is printed, and
    torch's CPU threads are fitted to the container (``fit_cpu_threads``; THREADS: a count the step was given)."""
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
    fit_cpu_threads(step, threads)
    if not cuda:
        keep_freed_memory(step)
    return device


def keep_freed_memory(step: str) -> bool:
    """Make glibc's malloc keep the memory a CPU step frees for its next allocations: no ``mmap`` per allocation and
    no trimming of the heap, so a training step reuses the pages of the step before instead of faulting in and
    zeroing new ones (benchmarks/allocator.py measures it). The process keeps its peak heap until it exits, which a
    training step reaches every step anyway; GPU steps are left alone (their host memory peaks once, at loading).
    Nothing is changed, and False returned, when ``RELEVANCE_DISTILL_KEEP_FREED_MEMORY=0``, when the C library is not
    glibc, when malloc was already configured through its environment (``MALLOC_*_``, ``GLIBC_TUNABLES``) or when
    another allocator is preloaded (``LD_PRELOAD``: jemalloc, tcmalloc, mimalloc)."""
    if os.environ.get(KEEP_FREED_MEMORY_ENVIRONMENT, "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    if platform.libc_ver()[0] != "glibc" or any(os.environ.get(name) for name in _MALLOC_ENVIRONMENT):
        return False
    if any(name in os.environ.get("LD_PRELOAD", "") for name in _PRELOADED_ALLOCATORS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt takes an int: the heap is given back only when more than 2 GiB at its top lies free.
    kept = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    if not kept:
        print(f"{step}: glibc refused the malloc settings that keep freed memory; left as it was", flush=True)
    elif not _FREED_MEMORY_KEPT:  # said once per process: the resident memory stays at its peak from here on
        print(f"{step}: freed memory is kept for the next allocations ({KEEP_FREED_MEMORY_ENVIRONMENT}=0 turns it off)",
              flush=True)
        _FREED_MEMORY_KEPT.append(step)
    return kept


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _up_to(mount: Path, cgroup_path: str) -> list[Path]:
    """MOUNT/CGROUP_PATH and each directory above it up to MOUNT (inside a container with its own cgroup namespace
    the path is ``/`` and MOUNT holds the container's own limits)."""
    parts = [part for part in cgroup_path.split("/") if part]
    return [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, membership: str | None = None) -> float | None:
    """The CPUs per period this process's cgroup may use (a pod's ``resources.limits.cpu``): the tightest quota from
    its cgroup up to the root, in cgroup v2 (``cpu.max``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``); None
    without one. MEMBERSHIP: the text of ``/proc/self/cgroup`` (read when None)."""
    if membership is None:
        membership = _read(Path("/proc/self/cgroup")) or ""
    limits: list[float] = []
    for line in membership.splitlines():
        hierarchy, controllers, cgroup_path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and not controllers:
            for directory in _up_to(root, cgroup_path):
                quota, _, period = (_read(directory / "cpu.max") or "max").partition(" ")
                if quota != "max" and period:
                    limits.append(int(quota) / int(period))
        elif "cpu" in controllers.split(","):
            mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
            mount = next((path for path in mounts if (path / "cpu.cfs_quota_us").is_file()), None)
            for directory in _up_to(mount, cgroup_path) if mount else []:
                quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
                if quota and period and int(quota) > 0:
                    limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def container_cpus(root: Path = CGROUP_ROOT, membership: str | None = None) -> int:
    """CPUs this process may use: its cgroup's CPU limit rounded up (``cgroup_cpu_limit``), at most the CPUs it is
    allowed to run on. Threads beyond it only make the kernel throttle the container."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(root, membership)
    return allowed if limit is None else max(1, min(allowed, math.ceil(limit)))


def fit_cpu_threads(step: str, threads: int | None = None) -> int:
    """Set torch's intra-op threads for STEP: THREADS when given; else, when torch would use more, the container's
    CPUs shared among the processes torchrun started on this node (``LOCAL_WORLD_SIZE``), said in one line. A
    smaller count (``OMP_NUM_THREADS``, ``torch.set_num_threads``) is kept. Returns the count in use."""
    import torch

    if threads is None:
        cpus = container_cpus()
        processes = int(os.environ.get("LOCAL_WORLD_SIZE", "") or 1)
        share = max(1, cpus // max(1, processes))
        current = torch.get_num_threads()
        if current <= share:
            return current
        print(f"{step}: {share} CPU thread(s), not torch's {current}: this container may use {cpus} CPU(s)"
              + (f", shared by {processes} processes" if processes > 1 else ""), flush=True)
        threads = share
    torch.set_num_threads(threads)
    return threads


# /proc/cpuinfo flags of the instructions that run bf16 matmuls natively.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def flags_have_native_bf16(flags: Iterable[str]) -> bool:
    """Whether CPU FLAGS (/proc/cpuinfo's, or the ones a result recorded) include an instruction set for native bf16."""
    return not set(NATIVE_BF16_FLAGS).isdisjoint(flags)


# oneDNN instruction-set limits (the ONEDNN_MAX_CPU_ISA environment variable) below native bf16 arithmetic.
ISAS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_native_bf16() -> bool:
    """Whether torch's CPU matmuls run bf16 natively here: a CPU with AVX512-BF16 or AMX that oneDNN may use
    (ONEDNN_MAX_CPU_ISA set below AVX512_CORE_BF16 forbids it). Elsewhere torch emulates bf16, several times slower
    than fp32."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in ISAS_WITHOUT_BF16:
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8").split()
    except OSError:
        return False
    return flags_have_native_bf16(flags)
