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
    max_loss_to_gold_only: Optional[float] = None,
    when_worse_than_gold_only: Optional[str] = None,
) -> bool:
    """Release gate, the one place a release is decided: the distilled student against the gold-only student on
    dev (the gold-only one is published instead, or the gate fails, when the distilled one trails it by more than
    MAX_LOSS_TO_GOLD_ONLY), then thresholds and no regression against the production model on the same test set.
    Unset settings take GateConfig's defaults (min_retention 0 skips that check).

    Returns whether it passed; DECISION (gate.json) holds the checks, the reasons and ``published_method``, which
    the export step reads.
    """
    import json

    from relevance_distill import storage
    from relevance_distill.config import GateConfig, config_from_arguments
    from relevance_distill.evaluation.gate import gate_evaluation
    from relevance_distill.progress import report_result

    config = config_from_arguments(GateConfig, min_macro_f1=min_macro_f1, min_retention=min_retention,
                                   max_regression=max_regression, decoding=decoding,
                                   max_loss_to_gold_only=max_loss_to_gold_only,
                                   when_worse_than_gold_only=when_worse_than_gold_only)
    production = json.loads(storage.read_text(production_metrics_uri)) if production_metrics_uri else None
    result = gate_evaluation(evaluation.path, config, production, teacher_macro_f1)
    with open(decision.path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    published = result["published_method"] if result["passed"] else ""
    report_result(("gate PASSED" if result["passed"] else "gate FAILED")
                  + (f" ({published} published)" if published else "") + ": " + "; ".join(result["reasons"]))
    return result["passed"]
