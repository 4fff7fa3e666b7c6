"""Retention: the student's macro-F1 over the teacher's, both on the same gold test pairs. The teacher's figure
comes from the evaluation the teacher was published with (``evaluation.json`` beside its weights)."""

from __future__ import annotations

import json
from typing import Any

from relevance_distill import storage
from relevance_distill.schemas import QueryServicePair

TEACHER_EVALUATION_FILE = "evaluation.json"


def published_evaluation(model_uri: str) -> dict[str, Any] | None:
    """The evaluation a teacher model was published with, or None (e.g. a model trained elsewhere)."""
    uri = storage.join(model_uri, TEACHER_EVALUATION_FILE)
    return json.loads(storage.read_text(uri)) if storage.exists(uri) else None


def teacher_macro_f1_on(test_pairs: list[QueryServicePair], evaluation: dict[str, Any] | None,
                        teacher_model_uri: str) -> float | None:
    """The macro-F1 of EVALUATION (the one TEACHER_MODEL_URI was published with, ``published_evaluation``), when it
    was measured on these gold test pairs (retention compares student and teacher on the same set); otherwise None,
    and why is printed."""
    gold = sum(1 for pair in test_pairs if pair.label)
    if evaluation is None:
        print(f"teacher {teacher_model_uri} has no published evaluation: retention is not measured")
        return None
    if evaluation["test_pairs"] != gold:
        print(f"teacher was evaluated on {evaluation['test_pairs']} pairs, the test set has {gold}: retention is not measured")
        return None
    return evaluation["macro_f1"]
