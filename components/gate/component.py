from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import component_image


@dsl.component(base_image=component_image("gate"), install_kfp_package=False)
def gate(
    evaluation: Input[Artifact],
    decision: Output[Artifact],
    min_macro_f1: Optional[float] = None,
    min_retention: Optional[float] = None,
    max_regression: Optional[float] = None,
    production_metrics_uri: str = "",
    teacher_macro_f1: Optional[float] = None,
    decoding: Optional[str] = None,
) -> bool:
    """Release gate: thresholds and no regression against the production model on the same test set. The one
    place a release is decided; unset thresholds take GateConfig's defaults (min_retention 0 skips that check).

    Returns whether the candidate passed; DECISION holds the checks and reasons (gate.json).
    """
    import json

    from relevance_distill import storage
    from relevance_distill.config import GateConfig, config_from_arguments
    from relevance_distill.evaluation.gate import gate_evaluation
    from relevance_distill.progress import report_result

    config = config_from_arguments(GateConfig, min_macro_f1=min_macro_f1, min_retention=min_retention,
                                   max_regression=max_regression, decoding=decoding)
    production = json.loads(storage.read_text(production_metrics_uri)) if production_metrics_uri else None
    result = gate_evaluation(evaluation.path, config, production, teacher_macro_f1)
    with open(decision.path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    report_result(("gate PASSED: " if result["passed"] else "gate FAILED: ") + "; ".join(result["reasons"]))
    return result["passed"]
