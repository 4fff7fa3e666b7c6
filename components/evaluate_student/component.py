from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Input, Metrics, Model, Output

from components.images import component_image


@dsl.component(base_image=component_image("evaluate_student"), install_kfp_package=False)
def evaluate_student(
    models: Input[Model],
    test_uri: str,
    metrics: Output[Metrics],
    confusion: Output[ClassificationMetrics],
    report: Output[HTML],
    evaluation: Output[Artifact],
    label_scheme: Optional[str] = None,
    teacher_macro_f1: float = 0.0,
    teacher_model_uri: str = "",
    latency_requests: Optional[int] = None,
    publish_uri: str = "",
    dev_uri: str = "",
):
    """Evaluate every trained method on the gold test set (metrics only: the gate step decides); KFP metrics
    describe the primary (CRSD) model.

    With PUBLISH_URI the evaluation directory (metrics, predictions, summary, report) is also published there.
    The teacher's macro-F1 (for retention) is TEACHER_MACRO_F1, or else the evaluation TEACHER_MODEL_URI was
    published with, used only when it covers the same gold test pairs. With DEV_URI every method is also measured on
    the dev split, where the gate compares the distilled student with the gold-only one (and the teacher with it).
    """
    import shutil

    from relevance_distill.config import (
        EvaluationConfig,
        config_from_arguments,
        label_scheme_named,
    )
    from relevance_distill.evaluation.evaluate import (
        evaluation_step,
        kfp_scalar_metrics,
    )

    summary = evaluation_step(models.path, test_uri, evaluation.path, label_scheme_named(label_scheme),
                              config_from_arguments(EvaluationConfig, latency_requests=latency_requests),
                              teacher_macro_f1 or None, teacher_model_uri, publish_uri, dev_uri)
    primary = summary["methods"][summary["primary"]]
    for name, value in kfp_scalar_metrics(primary).items():
        metrics.log_metric(name, value)
    for method, value in summary["macro_f1"].items():
        metrics.log_metric(f"{method}_macro_f1", value)
    matrix = primary["test"]["confusion_matrix"]
    confusion.log_confusion_matrix(matrix["labels"], matrix["matrix"])
    shutil.copyfile(summary["report"], report.path)
    evaluation.metadata.update({"primary": summary["primary"]})
