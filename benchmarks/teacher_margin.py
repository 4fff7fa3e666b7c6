"""The teacher's margin over the gold-only student on the same test pairs, with intervals: each teacher candidate's
greedy labels (the SFT models `teacher_budget.py` trained) against the gold-only student's per-seed predictions that
`method_comparison.py` cached, as means over seeds with 95 % bootstrap intervals and the difference teacher − student
on the same resampled test queries.

    python benchmarks/teacher_margin.py --candidates strong_deep6_counterfactual,strong_deep6_counterfactual_seed1 \
        --workdir runs/teacher-budget --students benchmarks/results/method_comparison_1200 \
        [--json benchmarks/results/teacher_margin.json]

Teachers and students are different seeds of different models, so each side's seeds are resampled on their own; the
test queries (a query's 8 pairs are not independent) are resampled once per draw for both. An unparsed teacher answer
is a class of its own, so it counts as wrong and, where it occurs, adds a class with F1 0 (stricter than
`teacher_budget.py`, which leaves that class out of the mean). Each candidate's labels are cached in its directory
(``test_predictions.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _machine import provenance

# The method of `method_comparison.py` whose cached per-seed predictions are the baseline.
STUDENT_METHOD = "gold_only"


def margin(gold: np.ndarray, groups: np.ndarray, teachers: list[np.ndarray], students: list[np.ndarray],
           num_labels: int, resamples: int, rng_seed: int = 0) -> dict[str, Any]:
    """Mean macro-F1 of TEACHERS and of STUDENTS (one prediction array per seed, -1: no label) with 95 % intervals, and
    the difference teacher − student with its interval, resampling test queries (GROUPS) jointly and seeds apart."""
    from relevance_distill.evaluation.metrics import (
        macro_f1,
        query_members,
        resample_queries,
    )

    classes = num_labels + 1  # the unparsed class

    def score(predicted: np.ndarray, index: np.ndarray) -> float:
        return macro_f1(gold[index], np.where(predicted[index] < 0, num_labels, predicted[index]), classes)

    rng = np.random.default_rng(rng_seed)
    members = query_members(groups)
    everything = np.arange(len(gold))
    samples: dict[str, list[float]] = {"teacher": [], "student": [], "difference": []}
    for _ in range(resamples):
        index = resample_queries(members, rng)
        teacher = float(np.mean([score(teachers[k], index) for k in rng.integers(0, len(teachers), len(teachers))]))
        student = float(np.mean([score(students[k], index) for k in rng.integers(0, len(students), len(students))]))
        samples["teacher"].append(teacher)
        samples["student"].append(student)
        samples["difference"].append(teacher - student)
    points = {"teacher": [score(p, everything) for p in teachers], "student": [score(p, everything) for p in students]}
    means = {"teacher": float(np.mean(points["teacher"])), "student": float(np.mean(points["student"]))}
    means["difference"] = means["teacher"] - means["student"]

    def interval(values: list[float]) -> list[float]:
        return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]

    return {"teacher": {"seeds": points["teacher"], "mean": means["teacher"], "ci": interval(samples["teacher"])},
            "student": {"seeds": points["student"], "mean": means["student"], "ci": interval(samples["student"])},
            "teacher_minus_student": {"mean": means["difference"], "ci": interval(samples["difference"])},
            "test_pairs": len(gold), "test_queries": len(members), "resamples": resamples}


def student_predictions(directory: Path, fingerprint: str) -> dict[str, np.ndarray]:
    """The gold-only student's cached predictions per seed directory of a method_comparison results folder; refused
    when they were made on another test set."""
    found = {}
    for path in sorted(directory.glob(f"seed-*/{STUDENT_METHOD}.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result["test_set_sha256"] != fingerprint:
            raise SystemExit(f"{path} was measured on another test set (sha256 {result['test_set_sha256'][:12]}, "
                             f"here {fingerprint[:12]}): the margin needs the same test pairs")
        found[path.parent.name] = np.array(result["predicted"])
    if not found:
        raise SystemExit(f"no {STUDENT_METHOD} results under {directory}/seed-*/ (method_comparison.py writes them)")
    return found


def teacher_predictions(name: str, workdir: Path, train: list[Any], test: list[Any]) -> dict[str, Any]:
    """Candidate NAME's greedy labels on the test pairs, from its cache or from its trained SFT model."""
    from teacher_budget import ANSWER_TOKENS

    from relevance_distill import storage
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.teacher.stages import model_uri_of, teacher_evaluation

    cached = workdir / name / "test_predictions.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    model = model_uri_of(str(workdir / name / "sft"))
    if not storage.exists(storage.join(model, storage.MANIFEST_NAME)):
        raise SystemExit(f"candidate {name!r} has no trained SFT model under {workdir / name}: run "
                         f"`python benchmarks/teacher_budget.py --candidates {name} --workdir {workdir}` first")
    evaluation = teacher_evaluation(model, train, test, get_label_scheme("local_services"), None, 0, ANSWER_TOKENS)
    found = {"candidate": name, "macro_f1": evaluation["macro_f1"], "predicted": evaluation["predicted"]}
    cached.write_text(json.dumps(found), encoding="utf-8")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", required=True, help="Comma-separated teacher_budget.py candidates (the seeds).")
    parser.add_argument("--workdir", default="runs/teacher-budget", help="teacher_budget.py's --workdir.")
    parser.add_argument("--students", default="benchmarks/results/method_comparison_1200",
                        help=f"A method_comparison.py results folder with {STUDENT_METHOD} seeds.")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--json", default="", help="Write the figures here.")
    args = parser.parse_args()
    if args.resamples < 100:
        parser.error(f"--resamples must be at least 100 for a 95 % interval, got {args.resamples}")
    from relevance_distill.builtin_world.prepare import prepare_builtin
    from relevance_distill.schemas import get_label_scheme, test_set_fingerprint
    from relevance_distill.teacher.stages import read_pairs

    workdir = Path(args.workdir)
    splits = prepare_builtin(workdir / "data")
    train, test = read_pairs(splits["train"]), [p for p in read_pairs(splits["test"]) if p.label]
    scheme = get_label_scheme("local_services")
    students = student_predictions(Path(args.students), test_set_fingerprint(test))
    names = [name.strip() for name in args.candidates.split(",") if name.strip()]
    teachers = {name: teacher_predictions(name, workdir, train, test) for name in names}
    gold = np.array([scheme.index(pair.label) for pair in test])
    groups = np.array([pair.group_key for pair in test])
    result = margin(gold, groups, [np.array(t["predicted"]) for t in teachers.values()], list(students.values()),
                    scheme.num_labels, args.resamples)
    # The margin's own "teacher" and "student" entries hold the figures; where they came from sits beside them.
    result = {**result, "teacher_candidates": names,
              "student_source": {"method": STUDENT_METHOD, "results": args.students, "seeds": list(students)},
              "provenance": provenance(test_set_fingerprint(test))}
    for side, label in (("teacher", "teacher"), ("student", STUDENT_METHOD)):
        entry = result[side]
        print(f"{label}: macro-F1 {entry['mean']:.4f} [{entry['ci'][0]:.4f}, {entry['ci'][1]:.4f}] over "
              f"{len(entry['seeds'])} seeds ({', '.join(f'{s:.4f}' for s in entry['seeds'])})")
    difference = result["teacher_minus_student"]
    print(f"teacher - {STUDENT_METHOD}: {difference['mean'] * 100:+.2f} points "
          f"[{difference['ci'][0] * 100:+.2f}, {difference['ci'][1] * 100:+.2f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
