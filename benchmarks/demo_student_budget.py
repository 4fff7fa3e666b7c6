"""Whether the demo's students can do with less work: dev macro-F1 at the demo's budget and at half of it.

    python benchmarks/demo_student_budget.py [--methods gold_only,crsd_no_verdict] [--budgets demo,half_steps,half_batch]
                                             [--json OUT]

`make demo` trains each student for the `demo` student profile's steps and batch. On a 2-vCPU CPU without AVX-512
those steps are most of the run (docs/main-job.md), so the obvious way to shorten the demo is to give the students
less work. This trains the demo's students through the product's trainer (``student.train.train_student``, the demo
profile) on the main job's built-in splits, at the profile's budget (``demo``) and at two cuts that each halve the
pairs a student sees: half the steps (``half_steps``, evaluated as often relative to the budget) and half the batch
(``half_batch``, the same number of optimizer steps). Recorded for every evaluation: dev macro-F1 under argmax and
under the ordinal decoding (the gate's), and per cell the training seconds, with the CPU and its flags.

No teacher takes part: a gold pair carries its gold chain, so ``crsd_no_verdict`` reads gold reasoning where the demo
also reads its teacher's on 400 more pairs; ``gold_only``, the student the gate compares every distilled one with, is
trained exactly as in the demo. The majority class's dev macro-F1 is recorded beside them: a student whose argmax
still scores that has learnt nothing yet. One seed: every cell is one run, an anecdote.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _machine import flags_phrase, provenance, write_result

DEFAULT_METHODS = ("gold_only", "crsd_no_verdict")


def budgets(profile) -> dict[str, dict[str, int]]:
    """The candidate budgets as overrides of the demo student profile PROFILE (its own values are the ``demo`` one)."""
    return {"demo": {},
            "half_steps": {"max_steps": profile.max_steps // 2, "eval_every_steps": max(1, profile.eval_every_steps // 2)},
            "half_batch": {"batch_size": profile.batch_size // 2}}


def measure(methods: list[str], names: list[str], workdir: Path) -> dict:
    from relevance_distill.builtin_world.prepare import prepare_builtin
    from relevance_distill.config import student_config_for
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.student.compare import train_methods
    from relevance_distill.teacher.evaluate import majority_baseline
    from relevance_distill.teacher.stages import read_pairs

    splits = prepare_builtin(workdir / "data")
    train_pairs, dev_pairs = read_pairs(splits["train"]), read_pairs(splits["dev"])
    scheme = get_label_scheme("local_services")
    candidates = budgets(student_config_for("demo"))
    cells: dict[str, dict[str, dict]] = {}
    for name in names:
        config = student_config_for("demo", **candidates[name])
        print(f"{name}: {', '.join(methods)}, {config.max_steps} steps of {config.batch_size} pairs", flush=True)
        results = train_methods(methods, config, scheme, train_pairs, dev_pairs, workdir / name)
        for method, result in results.items():
            history = json.loads((workdir / name / method / "history.json").read_text(encoding="utf-8"))
            cells.setdefault(name, {})[method] = {
                "steps": result["steps"], "batch_size": config.batch_size, "pairs_seen": result["steps"] * config.batch_size,
                "train_seconds": result["train_seconds"], "selection_decoding": result["selection_decoding"],
                "best_dev_macro_f1": round(result["best_dev_macro_f1"], 4), "best_step": result["best_step"],
                "evals": [{"step": e["step"], "argmax": round(e["dev_macro_f1"], 4),
                           "ordinal": round(e["dev_macro_f1_ordinal"], 4)} for e in history["evals"]]}
    return {"setup": {"profile": "demo", "budgets": {name: candidates[name] for name in names}, "methods": methods,
                      "train_pairs": len(train_pairs), "dev_pairs": len(dev_pairs),
                      "majority_dev_macro_f1": round(majority_baseline(
                          train_pairs, [pair for pair in dev_pairs if pair.label is not None], scheme), 4)},
            "cells": cells}


def markdown_table(document: dict) -> str:
    """The docs' table for a result file (docs/main-job.md carries it; a test compares)."""
    setup, where = document["setup"], document["provenance"]
    lines = [f"Demo students at less work (`demo_student_budget.py`; {where['cpu']} "
             f"({flags_phrase(where['cpu_flags'])}), {where['threads']} threads; one run, "
             f"one seed; the majority class scores {setup['majority_dev_macro_f1']:.3f} on dev):", "",
             "| budget | method | steps × batch | training | dev macro-F1 (argmax) by step | dev macro-F1 (ordinal) by step |",
             "|---|---|---|---|---|---|"]
    for name, methods in document["cells"].items():
        for method, cell in methods.items():
            argmax = ", ".join(f"{e['step']}: {e['argmax']:.3f}" for e in cell["evals"])
            ordinal = ", ".join(f"{e['step']}: {e['ordinal']:.3f}" for e in cell["evals"])
            lines.append(f"| {name} | {method} | {cell['steps']} × {cell['batch_size']} | {cell['train_seconds']:.0f} s | "
                         f"{argmax} | {ordinal} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    parser.add_argument("--budgets", default="demo,half_steps,half_batch")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names = args.budgets.split(",")
    from relevance_distill.config import student_config_for

    allowed = list(budgets(student_config_for("demo")))
    if unknown := sorted(set(names) - set(allowed)):
        parser.error(f"unknown budgets {unknown}; allowed: {allowed}")
    with tempfile.TemporaryDirectory(prefix="rd-demo-budget-") as workdir:
        document = measure(args.methods.split(","), names, Path(workdir))
    import torch

    document["provenance"] = provenance(threads=torch.get_num_threads())
    print(markdown_table(document))
    if args.json:
        write_result(args.json, document)


if __name__ == "__main__":
    main()
