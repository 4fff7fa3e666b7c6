"""Evaluate trained students on a gold test set: metrics.json per model plus KFP-ready metrics."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


from relevance_distill.evaluation.metrics import classification_report, expected_scores
from relevance_distill.schemas import LabelScheme, QueryServicePair


def test_set_fingerprint(pairs: list[QueryServicePair]) -> str:
    """Identifies the gold set, so a gate never compares metrics measured on different data."""
    return hashlib.sha256("\n".join(sorted(f"{p.pair_id}\t{p.label}" for p in pairs)).encode()).hexdigest()


def model_size(model_dir: str | Path, classifier: Any) -> dict[str, Any]:
    weights = sum(path.stat().st_size for path in Path(model_dir).glob("*.safetensors"))
    return {"parameters": int(sum(p.numel() for p in classifier.parameters())), "weights_bytes": int(weights),
            "layers": int(classifier.config.num_hidden_layers), "hidden_size": int(classifier.config.hidden_size)}


def evaluate_student(model_dir: str | Path, test_pairs: list[QueryServicePair], scheme: LabelScheme,
                     max_length: int = 128, teacher_macro_f1: float | None = None, latency_requests: int = 30,
                     num_threads: int | None = None) -> dict[str, Any]:
    """Standard-view metrics of the model in ``model_dir`` on ``test_pairs`` (gold labels), size and latency."""
    import torch

    from relevance_distill.evaluation.latency import request_latency_ms
    from relevance_distill.student.encoding import ViewEncoder
    from relevance_distill.student.model import StudentModel
    from relevance_distill.student.train import predict_probabilities

    if num_threads:
        torch.set_num_threads(num_threads)
    gold_pairs = [pair for pair in test_pairs if pair.label is not None]
    if not gold_pairs:
        raise ValueError("the test set has no labelled pairs")
    student, tokenizer = StudentModel.load(model_dir)
    classifier = student.classifier_model
    encoder = ViewEncoder(tokenizer, max_length, max(max_length, 256))
    probabilities = predict_probabilities(classifier, encoder, gold_pairs)
    scores = expected_scores(probabilities, scheme)
    predictions = [{"pair_id": p.pair_id, "gold": p.label, "predicted": scheme.names[int(row.argmax())], "score": float(score)}
                   for p, row, score in zip(gold_pairs, probabilities, scores)]
    report = classification_report([p.label for p in gold_pairs], probabilities, scheme, [p.group_key for p in gold_pairs])
    metrics: dict[str, Any] = {
        "test": report,
        "test_set_sha256": test_set_fingerprint(gold_pairs),
        "size": model_size(model_dir, classifier),
        "latency": request_latency_ms(classifier, encoder, gold_pairs, 50, latency_requests) if latency_requests else {},
        "predictions": predictions,
    }
    if teacher_macro_f1:
        metrics["teacher_macro_f1"] = teacher_macro_f1
        metrics["retention"] = report["macro_f1"] / teacher_macro_f1
    return metrics


def kfp_scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat scalars for a KFP ``Metrics`` artifact (names must be plain strings, values numbers)."""
    test = metrics["test"]
    scalars = {name: test[name] for name in ("macro_f1", "accuracy", "qwk", "roc_auc_relevant", "ndcg_at_10")
               if test.get(name) is not None}
    if "retention" in metrics:
        scalars["retention"] = metrics["retention"]
    for name in ("p50_ms", "p99_ms"):
        if name in metrics.get("latency", {}):
            scalars[f"latency_{name}"] = metrics["latency"][name]
    scalars["parameters"] = float(metrics["size"]["parameters"])
    return {name: float(value) for name, value in scalars.items()}
