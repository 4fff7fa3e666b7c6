"""Evaluate, gate, export to S3, fetch back, ONNX parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from relevance_distill import storage
from relevance_distill.config import (
    PRIMARY_STUDENT_METHOD,
    GateConfig,
    student_config_for,
)
from relevance_distill.devices import cpu_has_native_bf16
from relevance_distill.encoding import ViewEncoder, collate
from relevance_distill.evaluation.evaluate import (
    evaluate_trained,
    primary_method,
    versus_gold_only,
)
from relevance_distill.evaluation.gate import evaluate_gate, gate_evaluation
from relevance_distill.export import ExportConfig, export_evaluated, export_student
from relevance_distill.serving.backends import openvino_has_bf16
from relevance_distill.student.compare import train_methods


@pytest.fixture(scope="module")
def trained(builtin_splits, scheme, tmp_path_factory):
    directory = tmp_path_factory.mktemp("trained")
    config = student_config_for("smoke", max_steps=6, eval_every_steps=3)
    train_methods(["crsd", "vanilla"], config, scheme, builtin_splits["train"], builtin_splits["dev"], directory)
    return directory


def test_the_primary_method_is_the_configured_one_when_it_was_trained():
    assert primary_method(["vanilla", "crsd", PRIMARY_STUDENT_METHOD]) == PRIMARY_STUDENT_METHOD
    assert primary_method(["vanilla", "crsd"]) == "vanilla"
    with pytest.raises(ValueError, match="no trained methods"):
        primary_method([])


def test_evaluate_writes_metrics_and_report_and_the_gate_decides_once(trained, builtin_splits, scheme, tmp_path):
    summary = evaluate_trained(trained, builtin_splits["test"], scheme, tmp_path, teacher_macro_f1=0.9, latency_requests=3)
    # The configured primary method was not trained, so the first one trained is gated.
    assert summary["primary"] == "crsd" and set(summary["macro_f1"]) == {"crsd", "vanilla"}
    assert json.loads((tmp_path / "summary.json").read_text())["macro_f1"] == summary["macro_f1"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["count"] == len(builtin_splits["test"])
    for key in ["macro_f1", "accuracy", "qwk", "roc_auc_relevant", "ndcg_at_10", "per_class", "confusion_matrix"]:
        assert key in metrics["test"]
    assert metrics["retention"] == pytest.approx(metrics["test"]["macro_f1"] / 0.9)
    assert metrics["latency"]["p99_ms"] >= metrics["latency"]["p50_ms"] > 0
    assert metrics["size"]["layers"] == 2
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "vanilla" in html
    for png in ["confusion_matrix.png", "per_class_f1.png", "training_curves.png"]:
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    # Evaluation writes metrics only; the gate is decided by the gate step from its own config.
    assert not (tmp_path / "gate.json").exists() and "gate" not in summary
    assert metrics["max_length"] == 64  # the budget the model was trained with (views.json), not a parameter
    # The ordinal decoder uses the cut-points the trainer tuned on dev (decoding.json), never the test set.
    decoding = json.loads((Path(trained) / "crsd" / "best" / "decoding.json").read_text())
    assert metrics["test"]["ordinal"]["cutpoints"] == decoding["cutpoints"] and decoding["tuned_on"] == "dev"
    assert set(summary["ordinal"]) == {"crsd", "vanilla"}
    # Test figures come with 95 % intervals over whole test queries, under both decodings, in the report as well.
    queries = len({pair.group_key for pair in builtin_splits["test"]})
    for method in ("crsd", "vanilla"):
        for figures, ci in ((summary, summary["ci"][method]), (summary["ordinal"][method], summary["ordinal"][method]["ci"])):
            point = figures["qwk"][method] if figures is summary else figures["qwk"]
            assert ci["queries"] == queries and ci["qwk"][0] <= point <= ci["qwk"][1]
    assert f"{queries} queries" in html and f"[{summary['ci']['crsd']['macro_f1'][0]:.3f}, " in html
    ordinal = gate_evaluation(tmp_path, GateConfig(min_macro_f1=0.0, min_retention=0.0, decoding="ordinal"))
    assert ordinal["checks"][0]["value"] == metrics["test"]["ordinal"]["macro_f1"] and "(ordinal)" in ordinal["reasons"][0]
    strict = gate_evaluation(tmp_path, GateConfig(min_macro_f1=1.0, min_retention=0.0))
    lenient = gate_evaluation(tmp_path, GateConfig(min_macro_f1=0.0, min_retention=0.0))
    assert not strict["passed"] and lenient["passed"]
    # The teacher figure the evaluation measured retention with is the one the gate checks.
    retention = gate_evaluation(tmp_path, GateConfig(min_macro_f1=0.0, min_retention=0.01, decoding="argmax"))
    assert retention["checks"][1]["value"] == pytest.approx(metrics["retention"])
    # By default (a graded scheme) the gate judges the ordinal decoder, retention included.
    default = gate_evaluation(tmp_path, GateConfig(min_macro_f1=0.0, min_retention=0.01))
    assert default["decoding"] == "ordinal"
    assert default["checks"][1]["value"] == pytest.approx(metrics["test"]["ordinal"]["macro_f1"] / 0.9)

    exported = export_evaluated(trained, tmp_path, str(tmp_path / "published"), scheme, "relevance", "v2",
                                ExportConfig(onnx=False, bfloat16=False, openvino_int8=False))
    assert exported["method"] == "crsd" and exported["max_length"] == 64


def _metrics(macro_f1, qwk=0.5, sha="abc"):
    return {"test": {"macro_f1": macro_f1, "qwk": qwk}, "test_set_sha256": sha}


def test_auto_decoding_is_ordinal_for_a_graded_scheme_and_production_is_read_as_it_served():
    graded = {"test": {"macro_f1": 0.45, "qwk": 0.5,
                       "ordinal": {"macro_f1": 0.55, "qwk": 0.6, "cutpoints": [0.5, 1.5, 2.5]}}, "test_set_sha256": "abc"}
    result = evaluate_gate(graded, GateConfig(min_macro_f1=0.5, min_retention=0.0))
    assert result["passed"] and result["decoding"] == "ordinal"
    binary = {"test": {"macro_f1": 0.45, "qwk": 0.5, "ordinal": {"macro_f1": 0.55, "qwk": 0.6, "cutpoints": [0.5]}}}
    assert evaluate_gate(binary, GateConfig(min_macro_f1=0.4, min_retention=0.0))["decoding"] == "argmax"
    # A production model exported before decodings were recorded served argmax: compared as such.
    old = evaluate_gate(graded, GateConfig(min_macro_f1=0.0, min_retention=0.0), production=_metrics(0.6, qwk=0.55))
    assert any("macro_f1 0.5500 (ordinal) vs production 0.6000 (argmax)" in r for r in old["reasons"])


def test_the_gate_reads_the_configured_decoder():
    candidate = {"test": {"macro_f1": 0.45, "qwk": 0.5, "ordinal": {"macro_f1": 0.55, "qwk": 0.6}}}
    assert not evaluate_gate(candidate, GateConfig(min_macro_f1=0.5, min_retention=0.0))["passed"]
    assert evaluate_gate(candidate, GateConfig(min_macro_f1=0.5, min_retention=0.0, decoding="ordinal"))["passed"]
    with pytest.raises(ValueError, match="needs the ordinal metrics"):
        evaluate_gate(_metrics(0.7), GateConfig(min_retention=0.0, decoding="ordinal"))


def test_gate_rejects_regression_and_low_quality():
    config = GateConfig(min_macro_f1=0.5, min_retention=0.8, max_regression=0.01)
    passed = evaluate_gate(_metrics(0.70), config, _metrics(0.705), teacher_macro_f1=0.8)
    assert passed["passed"], passed["reasons"]
    regressed = evaluate_gate(_metrics(0.70), config, _metrics(0.75), teacher_macro_f1=0.8)
    assert not regressed["passed"] and any("macro_f1 0.7000 (argmax) vs production 0.7500 (argmax)" in r for r in regressed["reasons"])
    low = evaluate_gate(_metrics(0.40), config, None, teacher_macro_f1=0.8)
    assert not low["passed"] and len(low["reasons"]) == 2  # below minimum, and retention 0.5 < 0.8
    no_teacher = evaluate_gate(_metrics(0.70), config)
    assert not no_teacher["passed"] and "no teacher macro-F1" in no_teacher["reasons"][0]
    other_set = evaluate_gate(_metrics(0.70), config.model_copy(update={"min_retention": 0.0}), _metrics(0.6, sha="zzz"))
    assert not other_set["passed"] and "different test set" in other_set["reasons"][0]


def _evaluation_where_the_distilled_student_trails(directory: Path) -> Path:
    """An evaluation directory as evaluate_methods writes it, for a run whose distilled student (the primary method)
    labels 40 dev queries worse than the gold-only student (right on 2 pairs of 8 where gold-only is right on 6), while
    its test macro-F1 is higher: only dev may decide."""
    rows = {"gold_only": [], PRIMARY_STUDENT_METHOD: []}
    for query in range(40):
        for position in range(8):
            gold = position % 4
            pair = {"pair_id": f"q{query}-{position}", "query": f"q{query}", "gold": gold}
            rows["gold_only"].append({**pair, "argmax": gold if position < 6 else (gold + 1) % 4})
            rows[PRIMARY_STUDENT_METHOD].append({**pair, "argmax": gold if position < 2 else (gold + 1) % 4})
    test = {"gold_only": 0.60, PRIMARY_STUDENT_METHOD: 0.70}
    (directory / "metrics").mkdir(parents=True)
    for method, f1 in test.items():
        (directory / "metrics" / f"{method}.json").write_text(json.dumps(_metrics(f1)))
    (directory / "metrics.json").write_text(json.dumps(_metrics(test[PRIMARY_STUDENT_METHOD])))
    (directory / "summary.json").write_text(json.dumps({
        "primary": PRIMARY_STUDENT_METHOD, "macro_f1": test, "versus_gold_only": versus_gold_only(rows, 4)}))
    return directory


def test_the_gate_publishes_the_gold_only_student_when_the_distilled_one_trails_it_on_dev(tmp_path):
    evaluation = _evaluation_where_the_distilled_student_trails(tmp_path / "evaluation")
    comparison = json.loads((evaluation / "summary.json").read_text())["versus_gold_only"][PRIMARY_STUDENT_METHOD]["argmax"]
    assert comparison["difference"] < 0 and comparison["ci"][1] < 0 and comparison["verdict"] == "worse"
    assert comparison["queries"] == 40 and comparison["pairs"] == 320

    decision = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.5, min_retention=0.8))
    assert decision["passed"] and decision["candidate_method"] == PRIMARY_STUDENT_METHOD
    assert decision["published_method"] == "gold_only"
    assert "trails the gold-only student, gold_only published instead" in decision["reasons"][0]
    # The published student's own test figure is checked, and retention does not apply to it.
    assert decision["checks"][1]["value"] == 0.60
    assert decision["checks"][2]["passed"] and "learns nothing from the teacher" in decision["checks"][2]["reason"]

    refused = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.5, min_retention=0.0,
                                                     when_worse_than_gold_only="fail"))
    assert not refused["passed"] and refused["published_method"] == PRIMARY_STUDENT_METHOD
    assert refused["reasons"][0].endswith("trails the gold-only student")
    # A loss within the tolerance, or the comparison switched off, publishes the distilled student.
    tolerant = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.5, min_retention=0.0, max_loss_to_gold_only=0.9))
    skipped = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.5, min_retention=0.0, max_loss_to_gold_only=None))
    assert tolerant["published_method"] == skipped["published_method"] == PRIMARY_STUDENT_METHOD
    assert tolerant["passed"] and skipped["passed"] and [c["name"] for c in skipped["checks"]] == ["min_macro_f1"]


def test_the_gate_fails_a_distilled_student_it_cannot_compare_on_dev(tmp_path):
    evaluation = _evaluation_where_the_distilled_student_trails(tmp_path / "evaluation")
    summary = json.loads((evaluation / "summary.json").read_text())
    (evaluation / "summary.json").write_text(json.dumps({**summary, "versus_gold_only": {}}))
    decision = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.0, min_retention=0.0))
    assert not decision["passed"] and "no dev metrics" in decision["reasons"][0]


def test_the_run_summary_names_the_published_student_and_why(tmp_path):
    from rich.console import Console

    from relevance_distill.reporting import run_summary_table

    evaluation = _evaluation_where_the_distilled_student_trails(tmp_path / "evaluation")
    gate = gate_evaluation(evaluation, GateConfig(min_macro_f1=0.5, min_retention=0.0))
    summary = {"run_id": "r", "profile": "smoke", "runner": "subprocess", "artifacts_uri": "s3://b/r",
               "teacher": {"macro_f1": 0.5, "majority_macro_f1": 0.2, "test_pairs": 320, "qwk": 0.4},
               "data": {}, "annotation": {"rows_in": 1, "annotated": 1, "quarantined": 0, "labels": {}, "shards": 1},
               "students": {m: {"macro_f1": f1, "qwk": 0.5} for m, f1 in {"gold_only": 0.6, PRIMARY_STUDENT_METHOD: 0.7}.items()},
               "retention": None, "teacher_vs_gold_only": None, "gate": gate, "model_uri": "s3://b/models/relevance/v1",
               "report": "report.html"}
    console = Console(record=True, width=400)  # wide enough that no cell wraps
    console.print(run_summary_table(summary))
    text = console.export_text()
    assert "gold_only published instead" in text and "gold_only (the gold-only student" in text
    # A student's best dev checkpoint is worded as every log line words it, with the decoding that chose it.
    summary["students"]["gold_only"]["training"] = {"epochs": 2, "steps": 40, "best_step": 30, "stop_reason": "max_steps",
                                                   "best_dev_macro_f1": 0.51234, "selection_decoding": "ordinal"}
    console = Console(record=True, width=400)
    console.print(run_summary_table(summary))
    assert "best dev macro-F1 (ordinal) 0.5123 at step 30" in console.export_text()
    # Intervals over test queries, where the evaluation computed them, follow each figure.
    summary["students"]["gold_only"].update(
        ordinal_macro_f1=0.55, ordinal_qwk=0.52, ci={"macro_f1": [0.5, 0.7], "qwk": [0.4, 0.6], "queries": 26},
        ordinal_ci={"macro_f1": [0.45, 0.62], "qwk": [0.401, 0.627], "queries": 26})
    console = Console(record=True, width=400)
    console.print(run_summary_table(summary))
    text = console.export_text()
    assert "macro-F1 0.6000 [0.500, 0.700], QWK 0.5000 [0.400, 0.600]" in text
    assert "ordinal decoding: macro-F1 0.5500 [0.450, 0.620], QWK 0.5200 [0.401, 0.627] (95 % intervals over 26 test queries)" in text


def test_int8_gate_refuses_a_larger_drop_and_export_needs_the_test_split_and_calibration(trained, scheme, tmp_path,
                                                                                         builtin_splits):
    import numpy as np

    from relevance_distill.export import gate_decision

    gold = np.array([0, 1, 2, 3] * 5)
    passed = gate_decision(gold, gold.copy(), gold.copy(), 4, max_drop=0.005)
    assert passed["published"] and passed["macro_f1_drop"] == 0 and passed["argmax_agreement"] == 1
    worse = gold.copy()
    worse[1:4] = 0  # INT8 gets three pairs wrong that fp32 gets right
    refused = gate_decision(gold, gold.copy(), worse, 4, max_drop=0.005)
    assert not refused["published"] and refused["macro_f1_drop"] > 0.005 and refused["argmax_agreement"] == 0.85
    with pytest.raises(ValueError, match="need the gold test split"):
        export_student(trained / "crsd" / "best", str(tmp_path / "out"), scheme, "relevance", "v1", {},
                       config=ExportConfig(), test_pairs=None)
    with pytest.raises(ValueError, match="openvino_int8 needs calibration pairs"):
        export_student(trained / "crsd" / "best", str(tmp_path / "out"), scheme, "relevance", "v1", {},
                       config=ExportConfig(), test_pairs=builtin_splits["test"], calibration_pairs=None)


def test_a_reduced_precision_backend_that_fails_the_gate_is_not_published(trained, scheme, builtin_splits, tmp_path):
    from relevance_distill.encoding import load_view_settings
    from relevance_distill.evaluation.evaluate import load_standard_view
    from relevance_distill.export import (
        export_onnx,
        export_openvino,
        gate_reduced_precision,
        quantize_int8,
        quantize_openvino_int8,
    )
    from relevance_distill.serving.backends import openvino_has_bf16

    classifier, tokenizer = load_standard_view(trained / "crsd" / "best")
    classifier.save_pretrained(tmp_path)
    max_length = load_view_settings(trained / "crsd" / "best")["max_length"]
    export_onnx(classifier, tokenizer, tmp_path, max_length)
    export_openvino(classifier, tokenizer, tmp_path, max_length)
    quantize_int8(tmp_path)
    quantize_openvino_int8(tmp_path, tokenizer, max_length, builtin_splits["dev"], 40)
    # The bf16 backends can be measured only where the CPU has bf16 instructions (elsewhere refused as unavailable).
    gated = (["onnx_int8", "openvino_int8"] + (["torch_bf16"] if cpu_has_native_bf16() else [])
             + (["openvino_bf16"] if openvino_has_bf16() else []))
    # A limit no model can meet (a macro-F1 drop is never below -1): the gate must refuse all and delete the INT8
    # file; bf16 OpenVINO has no file of its own, so the fp32 OpenVINO graph stays.
    refused = gate_reduced_precision(tmp_path, gated, tokenizer, max_length, scheme, builtin_splits["test"], max_drop=-1.0)
    assert not any(refused[name]["published"] for name in gated) and not (tmp_path / "model.int8.onnx").exists()
    assert not (tmp_path / "model.ov_int8.xml").exists() and not (tmp_path / "model.ov_int8.bin").exists()
    assert (tmp_path / "model.ov.xml").is_file() and (tmp_path / "model.ov.bin").is_file()
    quantize_int8(tmp_path)
    quantize_openvino_int8(tmp_path, tokenizer, max_length, builtin_splits["dev"], 40)
    kept = gate_reduced_precision(tmp_path, gated, tokenizer, max_length, scheme, builtin_splits["test"], max_drop=1.0)
    assert all(kept[name]["published"] for name in gated) and (tmp_path / "model.int8.onnx").is_file()
    assert kept["onnx_int8"]["gate"]["test_pairs"] == sum(p.label is not None for p in builtin_splits["test"])


def test_export_fetch_gives_identical_logits_and_onnx_parity(trained, scheme, s3_bucket, tmp_path, builtin_splits):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from relevance_distill.student.model import StudentModel

    result = export_student(trained / "crsd" / "best", s3_bucket, scheme, "relevance", "v1", {"test": {"macro_f1": 0.5}},
                            config=ExportConfig(max_macro_f1_drop=1.0), test_pairs=builtin_splits["test"],
                            calibration_pairs=builtin_splits["dev"])
    assert result["model_uri"] == f"{s3_bucket}/models/relevance/v1"
    backends = result["backends"]
    assert backends["onnx"]["parity_max_abs_diff"] <= 1e-4 and backends["onnx_optimized"]["parity_max_abs_diff"] <= 1e-3
    assert backends["onnx_optimized"]["fused"], "the transformer optimizer fused nothing"
    assert backends["openvino"]["parity_max_abs_diff"] <= 1e-3
    gated = ({"onnx_int8", "openvino_int8"} | ({"torch_bf16"} if cpu_has_native_bf16() else set())
             | ({"openvino_bf16"} if openvino_has_bf16() else set()))
    assert backends["openvino_int8"]["calibration_pairs"] == min(300, len(builtin_splits["dev"]))
    for backend in gated:  # a limit of 1.0 publishes them all; their figures are in the metrics
        assert backends[backend]["published"] and backends[backend]["gate"]["argmax_agreement"] > 0
    metrics = json.loads(storage.read_text(storage.join(result["model_uri"], "metrics.json")))
    assert set(metrics["reduced_precision"]) == gated
    assert {"model.safetensors", "tokenizer.json", "label_scheme.json", "metrics.json", "README.md", "model.onnx",
            "model.opt.onnx", "model.int8.onnx", "model.ov.xml", "model.ov.bin", "model.ov_int8.xml", "model.ov_int8.bin",
            "relevance_distill.json"} <= set(result["files"])
    assert "projection_head.safetensors" not in result["files"]
    fetched = storage.fetch_dir(result["model_uri"], tmp_path / "fetched")
    exported = AutoModelForSequenceClassification.from_pretrained(fetched).eval()
    original, tokenizer = StudentModel.load(trained / "crsd" / "best")
    original.eval()
    encoder = ViewEncoder(AutoTokenizer.from_pretrained(fetched), 64, 64)
    standard, _ = encoder.encode(["hotpot in Chaoyang", "朝阳 火锅"], ["Golden Hotpot | Food > Hotpot", "金鼎火锅(朝阳店)"])
    batch = collate(standard, encoder.pad_id)
    with torch.inference_mode():
        assert torch.equal(exported(**batch).logits, original.classifier_model(**batch).logits)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(fetched / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {k: v.numpy() for k, v in batch.items()})[0]
    with torch.inference_mode():
        assert np.abs(onnx_logits - exported(**batch).logits.numpy()).max() <= 1e-4
    info = json.loads((fetched / "relevance_distill.json").read_text())
    assert info["max_length"] == 64 and info["label_scheme"] == "local_services"
