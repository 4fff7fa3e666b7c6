"""Evaluate trained students on a gold test set.

The one home of evaluation: loading a model's standard view, predicting, per-method metrics, per-pair
predictions (the scores the A/B replay uses), the evaluation summary and the HTML report. It never decides a
release: the gate step reads ``metrics.json`` (``evaluation/gate.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill.config import GOLD_ONLY_METHOD, PRIMARY_STUDENT_METHOD
from relevance_distill.evaluation.metrics import (
    classification_report,
    expected_scores,
    ordinal_predictions,
    paired_bootstrap,
)
from relevance_distill.layout import EVALUATION_SUMMARY
from relevance_distill.progress import report_result
from relevance_distill.schemas import (
    LabelScheme,
    QueryServicePair,
    test_set_fingerprint,
)

# Written by the student trainer next to the methods it trained (student/compare.py).
TRAINING_RECORD = "training.json"
BEST_DIR = "best"
# Cut-points of the ordinal decoder, tuned on dev by the trainer and saved with the model.
DECODING_FILE = "decoding.json"
DECODINGS = ("argmax", "ordinal")


def save_decoding(model_dir: str | Path, cutpoints: list[float], dev: dict[str, float]) -> None:
    Path(model_dir, DECODING_FILE).write_text(json.dumps({"cutpoints": cutpoints, "tuned_on": "dev", **dev}, indent=2),
                                              encoding="utf-8")


def load_cutpoints(model_dir: str | Path) -> list[float] | None:
    path = Path(model_dir, DECODING_FILE)
    return json.loads(path.read_text(encoding="utf-8"))["cutpoints"] if path.is_file() else None


def model_size(model_dir: str | Path, classifier: Any) -> dict[str, Any]:
    weights = sum(path.stat().st_size for path in Path(model_dir).glob("*.safetensors"))
    return {"parameters": int(sum(p.numel() for p in classifier.parameters())), "weights_bytes": int(weights),
            "layers": int(classifier.config.num_hidden_layers), "hidden_size": int(classifier.config.hidden_size)}


def load_standard_view(model_dir: str | Path) -> tuple[Any, Any]:
    """Encoder + classifier and tokenizer of a saved student: the production path, without the projection head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from relevance_distill.hf import quiet_transformers

    quiet_transformers()
    classifier = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return classifier, AutoTokenizer.from_pretrained(model_dir)


def predict_probabilities(classifier: Any, encoder: Any, pairs: list[QueryServicePair], batch_size: int = 64,
                          device: Any = None) -> Any:
    """Label distributions (numpy, one row per pair) from the standard view only."""
    import numpy as np
    import torch

    from relevance_distill.encoding import collate

    classifier.eval()
    device = device or next(classifier.parameters()).device
    standard, _ = encoder.encode_pairs(pairs)
    # Batches of similar length pad little; the rows go back to the pairs' order at the end.
    order = sorted(range(len(standard)), key=lambda i: len(standard[i].input_ids))
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            views = [standard[i] for i in order[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate(views, encoder.pad_id).items()}
            outputs.append(torch.softmax(classifier(**batch).logits.float(), dim=-1).cpu().numpy())
    if not outputs:
        return np.zeros((0, classifier.config.num_labels))
    probabilities = np.empty((len(order), classifier.config.num_labels), dtype=np.float32)
    probabilities[order] = np.concatenate(outputs)
    return probabilities


def evaluate_student(model_dir: str | Path, test_pairs: list[QueryServicePair], scheme: LabelScheme,
                     teacher_macro_f1: float | None = None, latency_requests: int = 30,
                     num_threads: int | None = None, dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Standard-view metrics of the model in ``model_dir`` on ``test_pairs`` (gold labels), size and latency. With
    DEV_PAIRS also its dev metrics and per-pair dev labels under both decodings (``dev``, ``dev_predictions``): what
    the gate compares methods by, so that the test set is read only to report.

    Inputs are built with the token budget the model was trained with (its ``views.json``).
    """
    from relevance_distill.devices import fit_cpu_threads
    from relevance_distill.encoding import ViewEncoder, load_view_settings
    from relevance_distill.evaluation.latency import request_latency_ms

    fit_cpu_threads("student evaluation", num_threads)
    gold_pairs = [pair for pair in test_pairs if pair.label is not None]
    if not gold_pairs:
        raise ValueError("the test set has no labelled pairs")
    classifier, tokenizer = load_standard_view(model_dir)
    views = load_view_settings(model_dir)
    encoder = ViewEncoder(tokenizer, views["max_length"], views["reasoning_max_length"])
    probabilities = predict_probabilities(classifier, encoder, gold_pairs)
    cutpoints = load_cutpoints(model_dir)
    scores = expected_scores(probabilities, scheme)
    ordinal_test = ordinal_predictions(probabilities, cutpoints) if cutpoints is not None else None
    predictions = [{"pair_id": p.pair_id, "gold": p.label, "predicted": scheme.names[int(row.argmax())], "score": float(score),
                    **({"predicted_ordinal": scheme.names[int(ordinal_test[i])]} if ordinal_test is not None else {})}
                   for i, (p, row, score) in enumerate(zip(gold_pairs, probabilities, scores))]
    report = classification_report([p.label for p in gold_pairs], probabilities, scheme, [p.group_key for p in gold_pairs],
                                   cutpoints)
    metrics: dict[str, Any] = {
        "test": report,
        "test_set_sha256": test_set_fingerprint(gold_pairs),
        "size": model_size(model_dir, classifier),
        "max_length": views["max_length"],
        "latency": request_latency_ms(classifier, encoder, gold_pairs, 50, latency_requests) if latency_requests else {},
        "predictions": predictions,
    }
    if teacher_macro_f1:
        metrics["teacher_macro_f1"] = teacher_macro_f1
        metrics["retention"] = report["macro_f1"] / teacher_macro_f1
    dev_gold = [pair for pair in dev_pairs or [] if pair.label is not None]
    if dev_gold:
        dev_probabilities = predict_probabilities(classifier, encoder, dev_gold)
        dev_report = classification_report([p.label for p in dev_gold], dev_probabilities, scheme, None, cutpoints)
        metrics["dev"] = {key: dev_report[key] for key in ("count", "macro_f1", "qwk")}
        if "ordinal" in dev_report:
            metrics["dev"]["ordinal"] = {key: dev_report["ordinal"][key] for key in ("macro_f1", "qwk")}
        ordinal = ordinal_predictions(dev_probabilities, cutpoints) if cutpoints is not None else None
        metrics["dev_predictions"] = [
            {"pair_id": p.pair_id, "query": p.group_key, "gold": scheme.index(p.label), "argmax": int(row.argmax()),
             **({"ordinal": int(ordinal[i])} if ordinal is not None else {})}
            for i, (p, row) in enumerate(zip(dev_gold, dev_probabilities))]
    return metrics


def primary_method(methods: list[str]) -> str:
    if not methods:
        raise ValueError("no trained methods to evaluate")
    return PRIMARY_STUDENT_METHOD if PRIMARY_STUDENT_METHOD in methods else methods[0]


def verdict(interval: list[float]) -> str:
    """'better', 'worse' or 'not distinguishable': where a 95 % interval of a difference lies against zero."""
    return "better" if interval[0] > 0 else "worse" if interval[1] < 0 else "not distinguishable"


def dev_comparison(first: list[dict[str, Any]], second: list[dict[str, Any]], key_first: str, key_second: str,
                   num_labels: int) -> dict[str, Any]:
    """Macro-F1 of FIRST minus SECOND on the same dev pairs (each a list of per-pair rows with pair_id, query, gold
    and the predicted label under KEY_*), with its 95 % bootstrap interval over dev queries and the verdict."""
    import numpy as np

    if [row["pair_id"] for row in first] != [row["pair_id"] for row in second]:
        raise ValueError("a dev comparison needs both sides' labels for the same dev pairs in the same order")
    gold = np.array([row["gold"] for row in first])
    result = paired_bootstrap(gold, np.array([row[key_first] for row in first]),
                              np.array([row[key_second] for row in second]), [row["query"] for row in first], num_labels)
    return {**result, "verdict": verdict(result["ci"])}


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def teacher_versus_gold_only(teacher_evaluation: dict[str, Any] | None, gold_only: list[dict[str, Any]] | None,
                             num_labels: int, test: tuple[float | None, float | None] = (None, None)) -> dict[str, Any] | None:
    """Whether the teacher labels the dev pairs better than the student trained without it, as an interval (a
    teacher that does not cannot be what makes a distilled student good). TEACHER_EVALUATION is the one the teacher
    was published with (its ``dev`` labels); GOLD_ONLY the gold-only student's dev rows. TEST (teacher, gold-only
    test macro-F1) is reported beside it. None when either side was not measured on these dev pairs."""
    dev = (teacher_evaluation or {}).get("dev")
    if not dev or not gold_only or dev["pair_ids"] != [row["pair_id"] for row in gold_only]:
        return None
    teacher_rows = [{**row, "teacher": label} for row, label in zip(gold_only, dev["predicted"])]
    comparison = dev_comparison(teacher_rows, gold_only, "teacher", "argmax", num_labels)
    low, high = comparison["ci"]
    statement = {"better": "yes", "worse": "no: it is worse", "not distinguishable": "not shown"}[comparison["verdict"]]
    return {"split": "dev", "teacher_macro_f1": dev["macro_f1"],
            "gold_only_macro_f1": dev["macro_f1"] - comparison["difference"],
            "difference": comparison["difference"], "ci": comparison["ci"], "queries": comparison["queries"],
            "verdict": comparison["verdict"],
            "teacher_beats_gold_only": f"{statement}: {_points(comparison['difference'])} points of dev macro-F1, 95 % "
                                       f"interval [{_points(low)}, {_points(high)}], {comparison['queries']} queries",
            "test": {"teacher_macro_f1": test[0], "gold_only_macro_f1": test[1]}}


def versus_gold_only(dev_rows: dict[str, list[dict[str, Any]]], num_labels: int) -> dict[str, Any]:
    """Every distilled method against the gold-only student on dev, under each decoding both sides have."""
    if GOLD_ONLY_METHOD not in dev_rows:
        return {}
    gold_only = dev_rows[GOLD_ONLY_METHOD]
    out: dict[str, Any] = {}
    for method, rows in dev_rows.items():
        if method == GOLD_ONLY_METHOD:
            continue
        out[method] = {decoding: dev_comparison(rows, gold_only, decoding, decoding, num_labels)
                       for decoding in DECODINGS if rows and decoding in rows[0] and decoding in gold_only[0]}
    return out


def evaluate_methods(model_dirs: dict[str, str | Path], test_pairs: list[QueryServicePair], scheme: LabelScheme,
                     out_dir: str | Path, teacher_macro_f1: float | None = None,
                     histories: dict[str, dict[str, Any]] | None = None, latency_requests: int = 30,
                     dev_pairs: list[QueryServicePair] | None = None,
                     teacher_evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate every model on one test set (and DEV_PAIRS) and write the evaluation directory:

    ``metrics/<method>.json``, ``predictions/<method>.jsonl`` (test), ``predictions/dev/<method>.jsonl``,
    ``metrics.json`` (the primary method's), ``summary.json`` (primary method, macro-F1 and QWK per method with
    their 95 % intervals over test queries (``ci``), dev
    macro-F1 per method, each distilled method against the gold-only student on dev, the teacher against it) and
    ``report.html``. TEACHER_EVALUATION is the evaluation the teacher was published with.
    """
    from relevance_distill.evaluation.report import write_report

    out = Path(out_dir)
    (out / "metrics").mkdir(parents=True, exist_ok=True)
    (out / "predictions" / "dev").mkdir(parents=True, exist_ok=True)
    results, dev_rows = {}, {}
    for method, directory in model_dirs.items():
        metrics = evaluate_student(directory, test_pairs, scheme, teacher_macro_f1, latency_requests,
                                   dev_pairs=dev_pairs)
        if "dev_predictions" in metrics:
            dev_rows[method] = metrics.pop("dev_predictions")
        for name, rows in (("", metrics.pop("predictions")), ("dev", dev_rows.get(method))):
            if rows is not None:
                (out / "predictions" / name / f"{method}.jsonl").write_text(
                    "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        results[method] = metrics
        (out / "metrics" / f"{method}.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    primary = primary_method(list(results))
    (out / "metrics.json").write_text(json.dumps(results[primary], indent=2), encoding="utf-8")
    report = write_report(results, histories or {}, out, primary)
    summary = {"primary": primary, "test_pairs": results[primary]["test"]["count"],
               "test_set_sha256": results[primary]["test_set_sha256"],
               "macro_f1": {m: r["test"]["macro_f1"] for m, r in results.items()},
               "qwk": {m: r["test"]["qwk"] for m, r in results.items()},
               "ci": {m: r["test"]["ci"] for m, r in results.items() if "ci" in r["test"]},
               "ordinal": {m: {key: r["test"]["ordinal"][key] for key in ("macro_f1", "qwk", "ci") if key in r["test"]["ordinal"]}
                           for m, r in results.items() if "ordinal" in r["test"]},
               "retention": results[primary].get("retention"),
               "dev_macro_f1": {m: r["dev"]["macro_f1"] for m, r in results.items() if "dev" in r},
               "versus_gold_only": versus_gold_only(dev_rows, scheme.num_labels),
               "teacher_vs_gold_only": teacher_versus_gold_only(
                   teacher_evaluation, dev_rows.get(GOLD_ONLY_METHOD), scheme.num_labels,
                   (teacher_macro_f1, results[GOLD_ONLY_METHOD]["test"]["macro_f1"] if GOLD_ONLY_METHOD in results else None)),
               "report": "report.html"}
    (out / EVALUATION_SUMMARY).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return {**summary, "methods": results, "report": str(report)}


def training_record(models_dir: str | Path) -> dict[str, Any]:
    """A student training run's record: method -> training result, in training order."""
    record = Path(models_dir) / TRAINING_RECORD
    if not record.is_file():
        raise FileNotFoundError(f"{models_dir} has no {TRAINING_RECORD}: it is not the output of the student trainer")
    return json.loads(record.read_text(encoding="utf-8"))


def trained_methods(models_dir: str | Path) -> list[str]:
    """The methods a student training run produced, in training order (from its training record)."""
    return list(training_record(models_dir))


def evaluate_trained(models_dir: str | Path, test_pairs: list[QueryServicePair], scheme: LabelScheme,
                     out_dir: str | Path, teacher_macro_f1: float | None = None,
                     latency_requests: int = 30, dev_pairs: list[QueryServicePair] | None = None,
                     teacher_evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
    """``evaluate_methods`` over every method of one student training run, with its training curves."""
    methods = trained_methods(models_dir)
    return evaluate_methods({m: Path(models_dir) / m / BEST_DIR for m in methods}, test_pairs, scheme, out_dir,
                            teacher_macro_f1, read_histories(models_dir, methods), latency_requests, dev_pairs,
                            teacher_evaluation)


def read_histories(training_dir: str | Path, methods: list[str]) -> dict[str, dict[str, Any]]:
    histories = {}
    for method in methods:
        path = Path(training_dir) / method / "history.json"
        if path.is_file():
            histories[method] = json.loads(path.read_text(encoding="utf-8"))
    return histories


def kfp_scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat scalars for a KFP ``Metrics`` artifact (names must be plain strings, values numbers)."""
    test = metrics["test"]
    scalars = {name: test[name] for name in ("macro_f1", "accuracy", "qwk", "roc_auc_relevant", "ndcg_at_10")
               if test.get(name) is not None}
    ordinal = test.get("ordinal") or {}
    scalars.update({f"ordinal_{name}": ordinal[name] for name in ("macro_f1", "qwk") if name in ordinal})
    # The 95 % intervals over test queries, as low and high bounds (a KFP metric is one number).
    for prefix, figures in (("", test), ("ordinal_", ordinal)):
        for name in ("macro_f1", "qwk"):
            if "ci" in figures:
                scalars[f"{prefix}{name}_ci_low"], scalars[f"{prefix}{name}_ci_high"] = figures["ci"][name]
    if "retention" in metrics:
        scalars["retention"] = metrics["retention"]
    for name in ("p50_ms", "p99_ms"):
        if name in metrics.get("latency", {}):
            scalars[f"latency_{name}"] = metrics["latency"][name]
    scalars["parameters"] = float(metrics["size"]["parameters"])
    return {name: float(value) for name, value in scalars.items()}


def evaluation_step(models_dir: str | Path, test_uri: str, out_dir: str | Path, scheme: LabelScheme,
                    config: Any = None, teacher_macro_f1: float | None = None, teacher_model_uri: str = "",
                    publish_uri: str = "", dev_uri: str = "") -> dict[str, Any]:
    """The evaluation step: every method of a training run on the gold test set at TEST_URI (and the dev set at
    DEV_URI, what the gate compares by). The teacher's macro-F1 for retention is TEACHER_MACRO_F1, else the one
    TEACHER_MODEL_URI was published with when it covers the same test pairs. The directory is published to
    PUBLISH_URI when given."""
    from relevance_distill import storage
    from relevance_distill.config import EvaluationConfig
    from relevance_distill.data.readers import read_models
    from relevance_distill.evaluation.retention import (
        published_evaluation,
        teacher_macro_f1_on,
    )

    config = config or EvaluationConfig()
    test_pairs = read_models(test_uri, QueryServicePair)
    dev_pairs = read_models(dev_uri, QueryServicePair) if dev_uri else None
    teacher_evaluation = published_evaluation(teacher_model_uri) if teacher_model_uri else None
    if not teacher_macro_f1 and teacher_model_uri:
        teacher_macro_f1 = teacher_macro_f1_on(test_pairs, teacher_evaluation, teacher_model_uri)
    summary = evaluate_trained(models_dir, test_pairs, scheme, out_dir, teacher_macro_f1, config.latency_requests,
                               dev_pairs, teacher_evaluation)
    retention = summary.get("retention")
    report_result("test macro-F1 " + ", ".join(f"{method} {value:.4f}" for method, value in summary["macro_f1"].items())
                  + ("" if retention is None else f"; retention {retention:.3f}"))
    if publish_uri:
        storage.publish_dir(out_dir, publish_uri, metadata={"stage": "evaluate_student"})
    return summary


def read_prediction_scores(evaluation_dir: str | Path, method: str) -> dict[str, float]:
    """pair_id → ranking score of one method on the test set (``predictions/<method>.jsonl``)."""
    path = Path(evaluation_dir) / "predictions" / f"{method}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{evaluation_dir} has no predictions for method {method!r}")
    from relevance_distill.data.readers import iter_jsonl

    return {row["pair_id"]: float(row["score"]) for _, row in iter_jsonl(str(path))}
