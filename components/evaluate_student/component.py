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
    label_scheme: str = "local_services",
    teacher_macro_f1: float = 0.0,
    teacher_model_uri: str = "",
    max_length: int = 96,
    latency_requests: int = 30,
    publish_uri: str = "",
):
    """Evaluate every trained method on the gold test set; KFP metrics describe the primary (CRSD) model.

    With PUBLISH_URI the evaluation directory (metrics, predictions, gate, report) is also published there.
    The teacher's macro-F1 (for retention) is TEACHER_MACRO_F1, or else the evaluation TEACHER_MODEL_URI was
    published with, used only when it covers the same gold test pairs.
    """
    import json
    import os
    import shutil

    from relevance_distill import storage
    from relevance_distill.data.readers import read_models
    from relevance_distill.evaluation.evaluate import kfp_scalar_metrics
    from relevance_distill.schemas import QueryServicePair, get_label_scheme
    from relevance_distill.student.compare import evaluate_methods, read_histories

    test_pairs = read_models(test_uri, QueryServicePair)
    if not teacher_macro_f1 and teacher_model_uri:
        from relevance_distill.teacher.stages import teacher_macro_f1_on

        teacher_macro_f1 = teacher_macro_f1_on(test_pairs, teacher_model_uri) or 0.0
    methods = sorted(name for name in os.listdir(models.path) if os.path.isdir(os.path.join(models.path, name, "best")))
    summary = evaluate_methods({m: os.path.join(models.path, m, "best") for m in methods},
                               test_pairs, get_label_scheme(label_scheme), evaluation.path,
                               max_length, teacher_macro_f1 or None, histories=read_histories(models.path, methods),
                               latency_requests=latency_requests)
    primary = summary["methods"][summary["primary"]]
    for name, value in kfp_scalar_metrics(primary).items():
        metrics.log_metric(name, value)
    for method, result in summary["methods"].items():
        metrics.log_metric(f"{method}_macro_f1", result["test"]["macro_f1"])
    matrix = primary["test"]["confusion_matrix"]
    confusion.log_confusion_matrix(matrix["labels"], matrix["matrix"])
    shutil.copyfile(summary["report"], report.path)
    evaluation.metadata.update({"primary": summary["primary"], "gate_passed": summary["gate"]["passed"]})
    with open(os.path.join(evaluation.path, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump({"primary": summary["primary"], "gate": summary["gate"],
                   "macro_f1": {m: r["test"]["macro_f1"] for m, r in summary["methods"].items()}}, handle)
    if publish_uri:
        storage.publish_dir(evaluation.path, publish_uri, metadata={"stage": "evaluate_student"})
