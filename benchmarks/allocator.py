"""CPU training under glibc's default malloc, under the setting every CPU step applies (``devices.keep_freed_memory``),
and under the allocators a user would otherwise preload (jemalloc, tcmalloc), in one run on this machine.

    python benchmarks/allocator.py [--student-steps 6] [--sft-steps 150] [--workloads …] [--only …] [--json OUT]

Each workload of each variant runs in a fresh process (malloc's settings hold for a process's life, and glibc's
mmap threshold rises with what a process has freed, so one workload must not run after another): ``glibc`` with
``RELEVANCE_DISTILL_KEEP_FREED_MEMORY=0``, ``keep_freed`` as a step runs by default, and ``jemalloc`` / ``tcmalloc``
through ``LD_PRELOAD`` where the library is installed (Debian: ``libjemalloc2``, ``libgoogle-perftools4``; skipped
otherwise). Every process goes through ``devices.choose_device('cpu', …)``, the call a training step makes, and
measures the same work:

- ``gold_only`` and ``crsd_no_verdict`` student steps at the demo profile's settings (the packaged MiniLM, its
  batch and sequence budgets, built-in gold pairs with their chains standing in for the teacher's; fp32, and bf16
  autocast where the CPU has it, as the trainer chooses): median seconds per optimizer step after two warm-up steps;
- the demo teacher's SFT (``teacher.sft.run_sft``, tiny initialisation, built-in training split): steps per second
  of the Trainer's loop; ``teacher_sft_crowdflower`` (asked for with ``--workloads``; it needs ../shared) the same on
  the split the README's CrowdFlower command makes, with label-only answers, as the own-data run trains it.

With each figure: the process's minor page faults per step (``getrusage``), the kernel's share of its CPU time, and
its peak resident memory. Ratios are against ``glibc``; compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import flags_phrase, provenance, write_result  # noqa: E402

STUDENT_METHODS = ("gold_only", "crsd_no_verdict")
DEFAULT_WORKLOADS = (*STUDENT_METHODS, "teacher_sft")
# Teacher SFT workload -> the dataset teacher_sft_throughput.training_pairs makes its pairs from.
SFT_DATASETS = {"teacher_sft": "builtin", "teacher_sft_crowdflower": "crowdflower"}
WORKLOADS = (*STUDENT_METHODS, *SFT_DATASETS)
PRELOADS = {"jemalloc": ("libjemalloc.so.2", "libjemalloc.so"),
            "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")}
LIBRARY_DIRECTORIES = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                       "/usr/local/lib")


def find_library(names: tuple[str, ...]) -> str | None:
    for directory in LIBRARY_DIRECTORIES:
        for name in names:
            if (Path(directory) / name).is_file():
                return str(Path(directory) / name)
    return None


def variants() -> dict[str, dict[str, str]]:
    """Variant name -> environment changes; preloaded allocators only where installed."""
    from relevance_distill.devices import KEEP_FREED_MEMORY_ENVIRONMENT

    found = {"glibc": {KEEP_FREED_MEMORY_ENVIRONMENT: "0"}, "keep_freed": {KEEP_FREED_MEMORY_ENVIRONMENT: "1"}}
    for name, libraries in PRELOADS.items():
        if library := find_library(libraries):
            found[name] = {"LD_PRELOAD": library, KEEP_FREED_MEMORY_ENVIRONMENT: "0"}
    return found


class Counters:
    """Minor page faults and user/system CPU seconds of this process since the last ``take``."""

    def __init__(self) -> None:
        self.last = resource.getrusage(resource.RUSAGE_SELF)

    def take(self) -> dict[str, float]:
        now = resource.getrusage(resource.RUSAGE_SELF)
        spent = {"minor_faults": now.ru_minflt - self.last.ru_minflt, "user_s": now.ru_utime - self.last.ru_utime,
                 "system_s": now.ru_stime - self.last.ru_stime}
        self.last = now
        return spent


def student_workload(method: str, steps: int, warmup: int) -> dict:
    import torch
    from _builtin_pairs import builtin_labelled_pairs
    from stage_profile import StudentSteps

    from relevance_distill.config import student_config_for
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.student.train import (
        build_examples,
        native_bf16,
        training_batches,
    )

    config = student_config_for("demo")
    scheme = get_label_scheme("local_services")
    examples, _ = build_examples(builtin_labelled_pairs()[320:], scheme)
    bf16 = config.amp and native_bf16(torch.device("cpu"))
    student = StudentSteps(method, config, scheme, examples)
    seconds: list[float] = []
    counters = Counters()
    for step, rows in enumerate(training_batches(config, student.standard, warmup + steps)):
        if step == warmup:
            counters.take()
        phases = student.step(rows, bf16)
        if step >= warmup:
            seconds.append(sum(phases.values()))
    spent = counters.take()
    return {"seconds_per_step": statistics.median(seconds), "steps": steps, "precision": "bf16" if bf16 else "fp32",
            "minor_faults_per_step": spent["minor_faults"] / steps,
            "system_share": spent["system_s"] / max(1e-9, spent["user_s"] + spent["system_s"])}


def teacher_sft_workload(dataset: str, steps: int) -> dict:
    from teacher_sft_throughput import training_pairs

    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.sft import run_sft

    with tempfile.TemporaryDirectory(prefix="rd-allocator-") as directory:
        pairs, scheme, plugin = training_pairs(dataset, Path(directory) / "data")
        config = teacher_config("demo").sft.model_copy(update={
            "init": "tiny", "max_steps": steps, "save_steps": steps, "dataset_plugin": plugin, "give_up_checks": 0})
        counters = Counters()
        metrics = run_sft(config, pairs, scheme, Path(directory) / "sft",
                          label_only=not any(pair.reasoning for pair in pairs))
        spent = counters.take()  # the whole call: tokenising and saving too, so faults per step are an upper bound
    seconds = metrics["train_runtime_seconds"]
    return {"steps_per_second": steps / seconds, "steps": steps, "minor_faults_per_step": spent["minor_faults"] / steps,
            "system_share": spent["system_s"] / max(1e-9, spent["user_s"] + spent["system_s"])}


def child(variant: str, workload: str, student_steps: int, sft_steps: int, out: Path) -> None:
    import torch

    from relevance_distill.devices import choose_device

    choose_device("cpu", f"allocator benchmark ({variant}, {workload})")
    result = (teacher_sft_workload(SFT_DATASETS[workload], sft_steps) if workload in SFT_DATASETS else
              student_workload(workload, student_steps, warmup=2))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["threads"] = torch.get_num_threads()
    out.write_text(json.dumps(result), encoding="utf-8")


def markdown_row(document: dict) -> str:
    """The docs' table row for a result file (docs/benchmarks.md carries it; a test compares)."""
    where, runs, ratios = document["provenance"], document["variants"], document["speedup_over_glibc"]

    def speed(workload: str, figures: dict) -> str:
        if workload in SFT_DATASETS:
            return f"{workload.replace('teacher_sft', 'teacher SFT').replace('_', ' ')} {figures['steps_per_second']:.2f} steps/s"
        return f"{workload} {figures['seconds_per_step']:.2f} s/step"

    def figures(name: str) -> str:
        run = runs[name]
        return (f"{name}: " + ", ".join(speed(w, f) for w, f in run.items())
                + "; page faults per step (kernel's share of the CPU, peak resident MiB): " + ", ".join(
                    f"{w} {f['minor_faults_per_step']:,.0f} ({f['system_share']:.0%}, {f['peak_rss_mib']:,.0f})"
                    for w, f in run.items()))

    speedups = " · ".join(f"{name} {', '.join(f'{w} {r:.2f}' for w, r in ratio.items())}"
                          for name, ratio in ratios.items())
    setup = document["setup"]
    workloads = list(next(iter(runs.values())))
    flags = "" if workloads == list(DEFAULT_WORKLOADS) else f" --workloads {','.join(workloads)}"
    flags += "" if list(runs) == ["glibc", "keep_freed", "jemalloc", "tcmalloc"] else f" --only {','.join(runs)}"
    precision = next((f["precision"] for f in runs["glibc"].values() if "precision" in f), "")
    return (f"| malloc during CPU training (`allocator.py --student-steps {setup['student_steps']} --sft-steps "
            f"{setup['sft_steps']}{flags}`, demo settings{', ' + precision if precision else ''}; {where['cpu']} "
            f"({flags_phrase(where['cpu_flags'])}), {where['threads']} threads; one run) | "
            + " · ".join(figures(name) for name in runs) + f"; speed-up over glibc's default: {speedups} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student-steps", type=int, default=6, help="timed student steps per method")
    parser.add_argument("--sft-steps", type=int, default=150, help="teacher SFT steps")
    parser.add_argument("--only", help="comma-separated variants (default: all that are installed)")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS), help=f"comma-separated, of {list(WORKLOADS)}")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workload, args.student_steps, args.sft_steps, args.out)
        return
    available = variants()
    chosen = [name.strip() for name in args.only.split(",")] if args.only else list(available)
    if unknown := sorted(set(chosen) - set(available)):
        parser.error(f"variants {unknown} are not available here; available: {sorted(available)} (a preloaded "
                     "allocator needs its library installed)")
    workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    if unknown := sorted(set(workloads) - set(WORKLOADS)):
        parser.error(f"unknown workloads {unknown}; allowed: {list(WORKLOADS)}")
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rd-allocator-") as directory:
        for workload in workloads:  # variants side by side per workload: drift in the machine's speed hits all alike
            for name in chosen:
                out = Path(directory) / f"{name}-{workload}.json"
                print(f"{name}, {workload}: {available[name]}", flush=True)
                subprocess.run([sys.executable, __file__, "--child", name, "--workload", workload, "--out", str(out),
                                "--student-steps", str(args.student_steps), "--sft-steps", str(args.sft_steps)],
                               env={**os.environ, **available[name]}, check=True)
                runs.setdefault(name, {})[workload] = json.loads(out.read_text(encoding="utf-8"))
                print(f"{name}, {workload}: {json.dumps(runs[name][workload])}", flush=True)
    ratios = {}
    if "glibc" in runs:
        base = runs["glibc"]
        for name, run in runs.items():
            if name != "glibc":
                ratios[name] = {w: (f["steps_per_second"] / base[w]["steps_per_second"] if w in SFT_DATASETS
                                    else base[w]["seconds_per_step"] / f["seconds_per_step"]) for w, f in run.items()}
    document = {"setup": {"student_steps": args.student_steps, "sft_steps": args.sft_steps, "profile": "demo"},
                "variants": runs, "speedup_over_glibc": ratios,
                "provenance": provenance(threads=next(iter(next(iter(runs.values())).values()))["threads"])}
    for name, ratio in ratios.items():
        print(f"{name} over glibc: " + ", ".join(f"{w} {r:.2f}x" for w, r in ratio.items()))
    if args.json:
        write_result(args.json, document)
    print(markdown_row(document))


if __name__ == "__main__":
    main()
