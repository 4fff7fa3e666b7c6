"""The decision whether a run distils from its teacher (evaluation/teacher_check.py)."""

from __future__ import annotations

from relevance_distill.evaluation.teacher_check import distillation_decision


def _evaluation(teacher: float, majority: float, trained_on: str = "cpu") -> dict:
    return {"trained_on": trained_on, "dev": {"pairs": 100, "macro_f1": teacher, "majority_macro_f1": majority}}


def test_a_teacher_must_beat_the_majority_class_by_more_than_the_margin():
    assert distillation_decision(_evaluation(0.30, 0.20), 0.02, teacher_given=False)["distil"] is True
    at_margin = distillation_decision(_evaluation(0.22, 0.20), 0.02, teacher_given=False)
    assert at_margin["distil"] is False and at_margin["teacher_dev_macro_f1"] == 0.22
    below = distillation_decision(_evaluation(0.10, 0.20), 0.0, teacher_given=False)
    assert below["distil"] is False and "skipped" in below["reason"] and "100 dev pairs" in below["reason"]


def test_what_is_never_skipped():
    at_majority = _evaluation(0.2, 0.2)
    assert distillation_decision(at_majority, 0.02, teacher_given=True)["distil"] is True
    assert distillation_decision(at_majority, None, teacher_given=False)["distil"] is True
    assert distillation_decision(_evaluation(0.2, 0.2, "cuda"), 0.02, teacher_given=False)["distil"] is True
    without_dev = distillation_decision({"macro_f1": 0.2}, 0.02, teacher_given=False)
    assert without_dev["distil"] is True and "no dev evaluation" in without_dev["reason"]
    assert distillation_decision(None, 0.02, teacher_given=False)["distil"] is True
