"""The machine a benchmark ran on, recorded with its figures."""

from __future__ import annotations

from pathlib import Path


def machine() -> str:
    """The CPU a run was measured on: figures move between machines (instruction sets, fp32 numerics), so every
    run says where it ran."""
    import os

    info = Path("/proc/cpuinfo").read_text(encoding="utf-8") if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown CPU")
    bf16 = "with" if "avx512_bf16" in info or "amx_bf16" in info else "without"
    return f"{os.cpu_count()}-CPU {model} {bf16} bf16"
