"""How long `make demo` takes from a fresh clone on this machine, as a newcomer runs it, with what each stage cost.

    python benchmarks/demo_time.py --json benchmarks/results/demo_time.json [--label NAME] [--keep]
    python benchmarks/demo_time.py --json … --from-clone DIR --whole-seconds S [--label NAME]

The first form clones this repository's HEAD into a temporary directory, runs ``make demo`` there (the install
included; pip's cache as it is) and times the whole command. The second records a run made by hand the same way
(``d=$(mktemp -d) && git clone -q . "$d" && cd "$d" && time make demo``): DIR is that clone, S the seconds ``time``
printed. From the run's ``summary.json``: the main job's wall time (the install excluded: the issue's measure), the
seconds of every pipeline task, and the figures the summary shows (teacher, students, gate, A/B). Each run is added to
the JSON under LABEL with the clone's commit, the CPU and its flags; runs already there are kept. The docs' table is
generated from the file (``markdown_table``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _machine import provenance, write_result

ROOT = Path(__file__).resolve().parents[1]
# Task groups of the docs' table: name -> the pipeline tasks (KFP task names) it sums.
GROUPS = {
    "teacher (CPT, SFT, reward model, DPO)": ("teacher-cpt", "teacher-sft", "reward-model", "teacher-preference"),
    "annotation": ("annotate-shard", "merge-annotations"),
    "students": ("train-student",),
    "evaluation": ("evaluate-student",),
    "gate, export, canary": ("gate", "export-student", "deploy-canary"),
}


def record(clone: Path, whole_seconds: float, label: str) -> dict:
    summary = json.loads((clone / "runs" / "demo" / "summary.json").read_text(encoding="utf-8"))
    tasks: dict[str, float] = {}  # the annotation shards, which kfp.local runs one after the other, are summed
    for task in summary["tasks"]:
        tasks[task["task"]] = tasks.get(task["task"], 0.0) + task["seconds"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    where = provenance(threads=None)
    where.update(commit=commit, uncommitted_changes=bool(subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout.strip()),
        date=datetime.datetime.strptime(summary["run_id"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).isoformat(timespec="seconds"))  # when the run started, not when recorded
    students = {name: {"macro_f1": round(s["macro_f1"], 4), "ordinal_macro_f1": round(s["ordinal_macro_f1"], 4),
                       "steps": s["training"]["steps"]} for name, s in summary["students"].items()}
    return {"label": label, "whole_seconds": round(whole_seconds, 1), "run_seconds": summary["wall_seconds"],
            "task_seconds": {name: round(seconds, 1) for name, seconds in tasks.items()},
            "teacher_macro_f1": round(summary["teacher"]["macro_f1"], 4), "students": students,
            "published": summary["gate"]["published_method"], "gate_passed": summary["gate"]["passed"],
            "ab_decision": summary["ab"]["decision"], "provenance": where}


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(round(seconds % 60)):02d}"


def markdown_table(document: dict, cpu_flags: set[str] | None = None) -> str:
    """The docs' table of the recorded runs (those on a CPU with exactly CPU_FLAGS when given)."""
    runs = [run for run in document["runs"] if cpu_flags is None or set(run["provenance"]["cpu_flags"]) == cpu_flags]
    header = ("| run | commit | CPU | whole `make demo` | run (target ≤ 15 min) | "
              + " | ".join(GROUPS) + " | test macro-F1 of the students (argmax / ordinal decoding) | published |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]  # one separator cell per header column
    for run in runs:
        where = run["provenance"]
        groups = [sum(run["task_seconds"].get(task, 0.0) for task in tasks) for tasks in GROUPS.values()]
        students = ", ".join(f"{name} {s['macro_f1']:.3f} / {s['ordinal_macro_f1']:.3f}" for name, s in run["students"].items())
        lines.append(f"| {run['label']} | {where['commit'][:7]} | {where['cpu']} ({', '.join(where['cpu_flags'])}), "
                     f"{where['cpus']} vCPUs | {minutes(run['whole_seconds'])} | **{minutes(run['run_seconds'])}** | "
                     + " | ".join(minutes(seconds) for seconds in groups)
                     + f" | {students} | {run['published']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--label", default="make demo")
    parser.add_argument("--from-clone", type=Path, help="a clone where `make demo` already ran")
    parser.add_argument("--whole-seconds", type=float, help="with --from-clone: the whole command's seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = parser.parse_args()
    if args.from_clone:
        if args.whole_seconds is None:
            parser.error("--from-clone needs --whole-seconds (what `time make demo` printed)")
        run = record(args.from_clone, args.whole_seconds, args.label)
    else:
        clone = Path(tempfile.mkdtemp(prefix="rd-demo-time-"))
        try:
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            started = time.monotonic()
            subprocess.run(["make", "demo"], cwd=clone, check=True)
            run = record(clone, time.monotonic() - started, args.label)
        finally:
            if not args.keep:
                shutil.rmtree(clone, ignore_errors=True)
    document = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {"runs": []}
    document["runs"].append(run)
    write_result(args.json, document)
    print(markdown_table(document))


if __name__ == "__main__":
    main()
