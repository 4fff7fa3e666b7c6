"""What is served is what was gated: the export carries the gate's decoding (ordinal: the dev-tuned cut-points) and
the predictor's labels equal the evaluation's labels for the same pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relevance_distill.evaluation.evaluate import evaluate_student, load_cutpoints
from relevance_distill.evaluation.gate import resolve_decoding
from relevance_distill.evaluation.metrics import expected_grade_index
from relevance_distill.export import ExportConfig, export_student
from relevance_distill.serving.predictor import RelevancePredictor

PLAIN = ExportConfig(onnx=False, openvino=False, quantize=False, bfloat16=False, openvino_int8=False)


@pytest.mark.parametrize("decoding", ["ordinal", "argmax"])
def test_the_predictor_serves_the_labels_the_evaluation_gated(exported_model, builtin_splits, scheme, tmp_path, decoding):
    _, local = exported_model
    trained = local.parent / "train" / "best"
    assert len(load_cutpoints(trained)) == scheme.num_labels - 1  # the trainer tuned them on dev
    metrics = evaluate_student(trained, builtin_splits["test"], scheme, latency_requests=0)
    assert resolve_decoding("auto", metrics) == "ordinal"  # a graded scheme: the gate's default decoder
    export_student(trained, str(tmp_path / "out"), scheme, "relevance", f"v-{decoding}", metrics, config=PLAIN,
                   local_copy=tmp_path / decoding, decoding=decoding)
    info = json.loads((tmp_path / decoding / "relevance_distill.json").read_text())
    assert info["decoding"]["method"] == decoding
    predictor = RelevancePredictor("relevance", str(tmp_path / decoding), backend="torch")
    assert predictor.load()
    gold = [pair for pair in builtin_splits["test"] if pair.label is not None]
    body = {"instances": [{"query": pair.query, "service_text": pair.service.to_text()} for pair in gold]}
    served = predictor.postprocess(predictor.predict(predictor.preprocess(body)))["predictions"]
    key = "predicted_ordinal" if decoding == "ordinal" else "predicted"
    evaluated = [row[key] for row in metrics["predictions"]]
    if decoding == "argmax":
        assert [row["label"] for row in served] == evaluated
        return
    assert info["decoding"]["cutpoints"] == load_cutpoints(trained)
    # The training graph (batches of 64) and the served backend (length-sorted sub-batches) agree to ~1e-6, so a pair
    # whose expected grade lies within 1e-5 of a cut-point may fall either side; every other pair must agree.
    probabilities = np.array([[row["probs"][name] for name in scheme.names] for row in served])
    distance = np.abs(expected_grade_index(probabilities)[:, None] - np.array(load_cutpoints(trained))[None, :]).min(1)
    clear = distance > 1e-5
    assert clear.mean() > 0.5  # (this 4-step model's grades bunch up; a trained one's spread out)
    assert [row["label"] for row, ok in zip(served, clear) if ok] == [label for label, ok in zip(evaluated, clear) if ok]


def test_ordinal_export_without_cutpoints_is_refused(exported_model, scheme, tmp_path):
    import shutil

    _, local = exported_model
    copy = tmp_path / "model"
    shutil.copytree(local.parent / "train" / "best", copy)
    (copy / "decoding.json").unlink()
    with pytest.raises(ValueError, match="cut-points"):
        export_student(copy, str(tmp_path / "out"), scheme, "relevance", "v", {}, config=PLAIN, decoding="ordinal")
