"""benchmarks/teacher_margin.py: the teacher − gold-only student difference with its interval, on one test set."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _noisy(gold: np.ndarray, wrong_share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(gold)) < wrong_share
    return np.where(wrong, (gold + 1) % 4, gold)


def test_a_clearly_better_teacher_gets_a_margin_whose_interval_excludes_zero_and_a_level_one_does_not(teacher_margin):
    from relevance_distill.evaluation.metrics import macro_f1

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 4, 320)
    groups = np.repeat(np.arange(40), 8)
    students = [_noisy(gold, 0.3, seed) for seed in range(3)]
    better = [_noisy(gold, 0.1, seed) for seed in range(10, 13)]
    result = teacher_margin.margin(gold, groups, better, students, 4, resamples=300)
    expected = np.mean([macro_f1(gold, p, 4) for p in better]) - np.mean([macro_f1(gold, p, 4) for p in students])
    assert result["teacher_minus_student"]["mean"] == pytest.approx(expected)
    low, high = result["teacher_minus_student"]["ci"]
    assert 0 < low < expected < high and result["test_queries"] == 40
    assert result["teacher"]["ci"][0] < result["teacher"]["mean"] < result["teacher"]["ci"][1]
    level = teacher_margin.margin(gold, groups, [_noisy(gold, 0.3, seed) for seed in range(20, 23)], students, 4, 300)
    assert level["teacher_minus_student"]["ci"][0] < 0 < level["teacher_minus_student"]["ci"][1]
    # an unparsed answer (-1) counts as wrong
    unparsed = [np.where(np.arange(320) < 32, -1, p) for p in better]
    assert teacher_margin.margin(gold, groups, unparsed, students, 4, 300)["teacher"]["mean"] < result["teacher"]["mean"]


def test_student_results_from_another_test_set_are_refused(teacher_margin, tmp_path):
    (tmp_path / "seed-0").mkdir()
    (tmp_path / "seed-0" / "gold_only.json").write_text(json.dumps({"test_set_sha256": "a" * 64, "predicted": [0, 1]}))
    assert list(teacher_margin.student_predictions(tmp_path, "a" * 64)) == ["seed-0"]
    with pytest.raises(SystemExit, match="another test set"):
        teacher_margin.student_predictions(tmp_path, "b" * 64)
    with pytest.raises(SystemExit, match="no gold_only results"):
        teacher_margin.student_predictions(tmp_path / "empty", "a" * 64)
