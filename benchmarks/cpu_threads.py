"""Student training under a CPU limit: torch's default threads against threads fitted to the limit, in one run.

    python benchmarks/cpu_threads.py [--cpus 1] [--steps 20] [--profile demo] [--json OUT]    (as root)

A pod's ``resources.limits.cpu`` becomes a CFS quota on its cgroup, while torch still starts one thread per CPU the pod
may run on (every CPU of the node). This script makes a cgroup with a quota of ``--cpus`` CPUs (cgroup v2 or v1; it
needs root and removes the cgroup afterwards) and trains ``gold_only`` in it for ``--steps`` steps through the
trainer's own path (``student.train.train_student``), twice, each in a fresh process: with as many threads as CPUs
the process may run on (what torch does unfitted) and with the threads every step now picks
(``devices.fit_cpu_threads``, which reads the cgroup). Samples per second of optimisation, their ratio, the CPU, its
flags and both thread counts are printed and written. On a 2-CPU machine the unfitted run can only oversubscribe a
1-CPU quota twice; on a large node the excess, and the loss, is larger.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from relevance_distill.devices import CGROUP_ROOT

PERIOD_US = 100_000


def make_cgroup(cpus: float) -> tuple[Path, Path]:
    """A new cgroup limited to CPUS CPUs: (its directory, the file a process joins it through)."""
    name = f"relevance-distill-cpu-threads-{os.getpid()}"
    quota = int(cpus * PERIOD_US)
    if (CGROUP_ROOT / "cgroup.controllers").is_file():  # cgroup v2
        controls = CGROUP_ROOT / "cgroup.subtree_control"
        if "cpu" not in controls.read_text(encoding="utf-8").split():
            controls.write_text("+cpu", encoding="utf-8")
        directory = CGROUP_ROOT / name
        directory.mkdir()
        (directory / "cpu.max").write_text(f"{quota} {PERIOD_US}", encoding="utf-8")
    else:  # cgroup v1: the cpu controller's own hierarchy
        mount = next((CGROUP_ROOT / option for option in ("cpu", "cpu,cpuacct")
                      if (CGROUP_ROOT / option / "cpu.cfs_quota_us").is_file()), None)
        if mount is None:
            raise SystemExit(f"no cgroup v2 and no cgroup v1 cpu controller under {CGROUP_ROOT}: cannot set a CPU limit")
        directory = mount / name
        directory.mkdir()
        (directory / "cpu.cfs_period_us").write_text(str(PERIOD_US), encoding="utf-8")
        (directory / "cpu.cfs_quota_us").write_text(str(quota), encoding="utf-8")
    return directory, directory / "cgroup.procs"


def run_in_cgroup(procs: Path, arguments: list[str]) -> dict:
    """This script's --child mode with ARGUMENTS in a fresh process that joins the cgroup before it starts."""
    def join() -> None:
        procs.write_text(str(os.getpid()), encoding="utf-8")

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--child", "--out", out.name, *arguments], check=True, preexec_fn=join)
        return json.loads(Path(out.name).read_text(encoding="utf-8"))


def child(args: argparse.Namespace) -> None:
    """Train gold_only here (already in the cgroup) with --threads (0: the fitted count) and write the figures."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _builtin_pairs import builtin_labelled_pairs
    from train_throughput import ours

    from relevance_distill.config import student_config_for
    from relevance_distill.devices import cgroup_cpu_limit, container_cpus
    from relevance_distill.schemas import get_label_scheme

    config = student_config_for(args.profile, max_steps=args.steps, eval_every_steps=args.steps, resume=False,
                                early_stopping_patience=0, num_threads=args.threads or None)
    pairs = builtin_labelled_pairs()
    with tempfile.TemporaryDirectory() as name:
        figures = ours("gold_only", config, get_label_scheme("local_services"), pairs[64:], pairs[:64], None, Path(name))
    figures.update({"threads": torch.get_num_threads(), "cgroup_cpu_limit": cgroup_cpu_limit(),
                    "container_cpus": container_cpus()})
    Path(args.out).write_text(json.dumps(figures), encoding="utf-8")


def markdown_row(document: dict) -> str:
    """The docs' table row for a result file (docs/benchmarks.md carries it; a test compares)."""
    from _machine import flags_phrase

    setup, runs, where = document["setup"], document["runs"], document["provenance"]
    return (f"| student training under a {setup['cpu_limit']:g}-CPU cgroup limit on {setup['visible_cpus']} visible CPUs "
            f"(`cpu_threads.py --cpus {setup['cpu_limit']:g} --steps {setup['steps']}`, {setup['method']}, "
            f"{setup['profile']} settings; {where['cpu']} ({flags_phrase(where['cpu_flags'])}); "
            f"one run) | torch's default {runs['unfitted']['threads']} threads "
            f"{runs['unfitted']['samples_per_second']:.1f} samples/s, fitted to the limit "
            f"{runs['fitted']['threads']} thread(s) {runs['fitted']['samples_per_second']:.1f}: "
            f"**{document['fitted_over_unfitted']:.2f} ×** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpus", type=float, default=1.0, help="the cgroup's CPU limit (a pod's limits.cpu)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per run")
    parser.add_argument("--profile", default="demo", help="student profile (sequence lengths, batch, init)")
    parser.add_argument("--json", type=Path, help="write the figures and their provenance here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    visible = len(os.sched_getaffinity(0))
    if args.cpus >= visible:
        parser.error(f"--cpus {args.cpus:g} must be below the {visible} CPUs this process may run on, or nothing is "
                     "oversubscribed")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance, write_result

    directory, procs = make_cgroup(args.cpus)
    try:
        common = ["--steps", str(args.steps), "--profile", args.profile]
        runs = {"unfitted": run_in_cgroup(procs, [*common, "--threads", str(visible)]),
                "fitted": run_in_cgroup(procs, common)}
    finally:
        directory.rmdir()
    ratio = runs["fitted"]["samples_per_second"] / runs["unfitted"]["samples_per_second"]
    for name, figures in runs.items():
        print(f"{name:9s} {figures['threads']} thread(s): {figures['samples_per_second']:.1f} samples/s "
              f"({figures['steps']} steps in {figures['train_seconds']:.1f} s)")
    print(f"fitted ÷ unfitted samples/s under a {args.cpus:g}-CPU limit: {ratio:.2f}")
    if args.json:
        document = {"setup": {"cpu_limit": args.cpus, "visible_cpus": visible, "steps": args.steps,
                              "profile": args.profile, "method": "gold_only"},
                    "runs": runs, "fitted_over_unfitted": ratio, "provenance": provenance()}
        write_result(args.json, document)


if __name__ == "__main__":
    main()
