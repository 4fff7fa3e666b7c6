
from typing import NamedTuple, Optional

from kfp import dsl

from components.images import component_image


@dsl.component(base_image=component_image("check_teacher"), install_kfp_package=False)
def check_teacher(
    teacher_model_uri: str,
    student_methods: str,
    given_teacher_model_uri: str = "",
    min_gain_over_majority: Optional[float] = None,
) -> NamedTuple("TeacherCheck", [("distil", bool), ("decision", str), ("student_methods", str)]):
    """Whether the run annotates with TEACHER_MODEL_URI and distils from it: a teacher trained in the run (not
    GIVEN_TEACHER_MODEL_URI) on a CPU whose dev macro-F1 does not beat the majority class by more than
    MIN_GAIN_OVER_MAJORITY (unset: TeacherRunConfig's default; negative: never skip) is skipped, and the run trains
    the gold-only student alone.

    Returns ``distil``, ``decision`` (JSON: the figures and the reason, one line the summary shows) and the student
    methods to train: STUDENT_METHODS, or the gold-only method alone.
    """
    import json
    from collections import namedtuple

    from relevance_distill.config import (
        GOLD_ONLY_METHOD,
        TeacherRunConfig,
        field_default,
    )
    from relevance_distill.evaluation.retention import published_evaluation
    from relevance_distill.evaluation.teacher_check import distillation_decision
    from relevance_distill.progress import report_result

    if min_gain_over_majority is None:
        min_gain_over_majority = field_default(TeacherRunConfig, "min_gain_over_majority")
    elif min_gain_over_majority < 0:
        min_gain_over_majority = None
    decision = distillation_decision(published_evaluation(teacher_model_uri), min_gain_over_majority,
                                     teacher_given=bool(given_teacher_model_uri))
    report_result(("distil: " if decision["distil"] else "gold-only: ") + decision["reason"])
    return namedtuple("TeacherCheck", ["distil", "decision", "student_methods"])(
        decision["distil"], json.dumps(decision), student_methods if decision["distil"] else GOLD_ONLY_METHOD)
