"""Train CRSD and its baselines under one budget, evaluate them on one test set, report and gate.

Used by the CLI (``train-student``, ``evaluate``) and by the KFP components, so both behave the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill.config import StudentTrainConfig
from relevance_distill.data.readers import read_models
from relevance_distill.evaluation.gate import GateConfig, evaluate_gate
from relevance_distill.schemas import Annotation, LabelScheme, QueryServicePair

PRIMARY_METHOD = "crsd"


def load_annotations(uri: str | None) -> dict[str, Annotation] | None:
    if not uri:
        return None
    return {annotation.pair_id: annotation for annotation in read_models(uri, Annotation)}


def train_methods(methods: list[str], config: StudentTrainConfig, scheme: LabelScheme,
                  train_pairs: list[QueryServicePair], dev_pairs: list[QueryServicePair], output_dir: str | Path,
                  annotations: dict[str, Annotation] | None = None, show_progress: bool = True) -> dict[str, Any]:
    """One run per method with everything else equal; returns method -> training result."""
    from relevance_distill.student.train import train_student

    results = {}
    for method in methods:
        method_config = config.model_copy(update={"method": method})
        StudentTrainConfig.model_validate(method_config.model_dump())  # a bad method name fails here, by name
        results[method] = train_student(method_config, scheme, train_pairs, dev_pairs, Path(output_dir) / method,
                                        annotations, show_progress)
    (Path(output_dir) / "training.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def evaluate_methods(model_dirs: dict[str, str | Path], test_pairs: list[QueryServicePair], scheme: LabelScheme,
                     out_dir: str | Path, max_length: int = 128, teacher_macro_f1: float | None = None,
                     gate_config: GateConfig | None = None, production_metrics: dict[str, Any] | None = None,
                     histories: dict[str, dict[str, Any]] | None = None, latency_requests: int = 30) -> dict[str, Any]:
    """Metrics for every model (``metrics/``), per-pair test predictions (``predictions/``, scores the A/B
    simulator can replay), the gate decision for the primary one, and the HTML report."""
    from relevance_distill.evaluation.evaluate import evaluate_student
    from relevance_distill.evaluation.report import write_report

    out = Path(out_dir)
    (out / "metrics").mkdir(parents=True, exist_ok=True)
    results = {}
    (out / "predictions").mkdir(exist_ok=True)
    for method, directory in model_dirs.items():
        metrics = evaluate_student(directory, test_pairs, scheme, max_length, teacher_macro_f1, latency_requests)
        predictions = metrics.pop("predictions")
        (out / "predictions" / f"{method}.jsonl").write_text(
            "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in predictions), encoding="utf-8")
        results[method] = metrics
        (out / "metrics" / f"{method}.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    primary = PRIMARY_METHOD if PRIMARY_METHOD in results else next(iter(results))
    gate = evaluate_gate(results[primary], gate_config or GateConfig(), production_metrics, teacher_macro_f1)
    (out / "gate.json").write_text(json.dumps(gate, indent=2), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(results[primary], indent=2), encoding="utf-8")
    report = write_report(results, histories or {}, out, primary, gate)
    return {"primary": primary, "methods": results, "gate": gate, "report": str(report)}


def read_histories(training_dir: str | Path, methods: list[str]) -> dict[str, dict[str, Any]]:
    histories = {}
    for method in methods:
        path = Path(training_dir) / method / "history.json"
        if path.is_file():
            histories[method] = json.loads(path.read_text(encoding="utf-8"))
    return histories
