"""Whether a run distils from its teacher, decided on dev before annotation starts.

A teacher trained in the run that does not beat the majority class on the gold dev pairs by a margin has learnt
nothing to pass on: annotating with it and distilling from it would only spend time (a CPU teacher on a real
dataset takes most of a run to reach the majority class). Such a run trains the gold-only student alone. A teacher
the user gave (``--teacher-model-uri``), one trained on a GPU, or one without a dev evaluation is always used.
"""

from __future__ import annotations

from typing import Any


def distillation_decision(evaluation: dict[str, Any] | None, min_gain_over_majority: float | None,
                          teacher_given: bool) -> dict[str, Any]:
    """``{"distil": bool, "reason": str, ...}`` for a teacher's published EVALUATION (its evaluation.json, whose
    ``dev`` section holds its dev macro-F1 and the majority class's; ``trained_on`` the device it trained on).
    MIN_GAIN_OVER_MAJORITY None never skips."""

    def decided(distil: bool, reason: str, **figures: Any) -> dict[str, Any]:
        return {"distil": distil, "reason": reason, "min_gain_over_majority": min_gain_over_majority, **figures}

    if teacher_given:
        return decided(True, "the teacher was given (--teacher-model-uri / teacher_model_uri): always distilled from")
    if min_gain_over_majority is None:
        return decided(True, "the check is off (teacher.min_gain_over_majority: null)")
    if not evaluation or not evaluation.get("dev"):
        return decided(True, "the teacher has no dev evaluation to decide on: distilled from")
    if evaluation.get("trained_on") == "cuda":
        return decided(True, "the teacher trained on a GPU: always distilled from")
    dev = evaluation["dev"]
    teacher, majority = dev["macro_f1"], dev["majority_macro_f1"]
    figures = {"teacher_dev_macro_f1": teacher, "majority_dev_macro_f1": majority, "dev_pairs": dev["pairs"]}
    measured = (f"teacher dev macro-F1 {teacher:.4f} vs the majority class {majority:.4f} on {dev['pairs']} dev pairs "
                f"(required gain > {min_gain_over_majority})")
    if evaluation.get("dpo_skipped"):
        measured += f"; {evaluation['dpo_skipped']}, so no reward model or DPO was trained"
    if teacher - majority > min_gain_over_majority:
        return decided(True, f"{measured}: annotation and distillation run", **figures)
    return decided(False, f"{measured}: the teacher learnt nothing to pass on, so annotation and distillation are "
                          "skipped and the gold-only student is trained alone", **figures)
