from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import component_image


@dsl.component(base_image=component_image("gate"), install_kfp_package=False)
def gate(
    evaluation: Input[Artifact],
    decision: Output[Artifact],
    min_macro_f1: float = 0.5,
    min_retention: float = 0.0,
    max_regression: float = 0.01,
    production_metrics_uri: str = "",
    teacher_macro_f1: float = 0.0,
) -> bool:
    """Release gate: thresholds and no regression against the production model on the same test set.

    Returns whether the candidate passed; DECISION holds the checks and reasons (gate.json).
    """
    import json
    import os

    from relevance_distill import storage
    from relevance_distill.evaluation.gate import GateConfig, evaluate_gate

    with open(os.path.join(evaluation.path, "metrics.json"), encoding="utf-8") as handle:
        candidate = json.load(handle)
    production = json.loads(storage.read_text(production_metrics_uri)) if production_metrics_uri else None
    config = GateConfig(min_macro_f1=min_macro_f1, min_retention=min_retention or None, max_regression=max_regression)
    # Without an explicit figure, the teacher's macro-F1 that evaluate_student measured on the same test set.
    result = evaluate_gate(candidate, config, production, teacher_macro_f1 or candidate.get("teacher_macro_f1"))
    with open(decision.path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    print(("PASSED: " if result["passed"] else "FAILED: ") + "; ".join(result["reasons"]))
    return result["passed"]
