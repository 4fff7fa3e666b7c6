"""The machine a benchmark ran on, recorded with its figures."""

from __future__ import annotations

from pathlib import Path


def cpu() -> tuple[str, set[str]]:
    """This CPU's model name and flags, from /proc/cpuinfo (unknown and none where it is absent)."""
    info = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").is_file() else ""
    lines = info.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    return model, flags


def machine() -> str:
    """The CPU a run was measured on: figures move between machines (instruction sets, fp32 numerics), so every
    run says where it ran."""
    import os

    from relevance_distill.devices import flags_have_native_bf16

    model, flags = cpu()
    bf16 = "with" if flags_have_native_bf16(flags) else "without"
    limits = isa_limits()
    limited = f", limited to {'/'.join(sorted(set(v.upper() for v in limits.values())))} ({', '.join(limits)})" if limits else ""
    return f"{os.cpu_count()}-CPU {model} {bf16} bf16{limited}"


# Environment variables that keep the math libraries to an older instruction set (oneDNN, ATen's own kernels, MKL):
# a CPU with AVX-512 set to AVX2 stands in for one without it.
ISA_LIMIT_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def isa_limits() -> dict[str, str]:
    import os

    return {name: os.environ[name] for name in ISA_LIMIT_VARIABLES if os.environ.get(name)}


# CPU flags that change what a figure means here: vector width and reduced-precision instructions.
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def flags_phrase(cpu_flags: list[str]) -> str:
    """The recorded CPU flags as a table's words: the relevant flags, or a plain statement that there are none."""
    return ", ".join(cpu_flags) or "none of AVX2, AVX-512, AMX"


def provenance(test_set_sha256: str | None = None, threads: int | None = None) -> dict:
    """Where a result comes from: commit (and whether the tree had uncommitted changes other than result files, which a
    benchmark writing several entries changes itself), the command, the UTC date,
    the CPU model and its relevant flags, the threads torch used, and the test set's fingerprint when one was read."""
    import datetime
    import os
    import shlex
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    model, flags = cpu()
    if threads is None:
        try:
            import torch

            threads = torch.get_num_threads()
        except ImportError:
            threads = None
    record = {"commit": git("rev-parse", "HEAD") or "unknown", "uncommitted_changes": bool(git("status", "--porcelain", "--", ".", ":!benchmarks/results")),
              "command": " ".join(shlex.quote(part) for part in [Path(sys.executable).name, *sys.argv]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cpu": model, "cpus": os.cpu_count(), "cpu_flags": sorted(flags & set(RELEVANT_FLAGS)),
              "threads": threads, "isa_limits": isa_limits(), "machine": machine()}
    if test_set_sha256:
        record["test_set_sha256"] = test_set_sha256
    return record


def write_result(path: Path, document: dict) -> None:
    """Write a benchmark's result DOCUMENT (figures and provenance) as indented JSON to PATH and say where."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    print(f"written: {path}")
