"""Export the standard-view student for serving and publish it to ``<root>/models/<name>/<version>/``.

The export holds only what production runs: encoder + classifier (the CRSD projection head is dropped) as
HF safetensors, the tokenizer, ``label_scheme.json``, ``metrics.json``, ``relevance_distill.json`` (how to
build the input exactly as in training, which serving backends were published and which one ``auto`` picks), a
model card ``README.md`` and, with ONNX on, three graphs for ONNX Runtime:

* ``model.onnx``: fp32 as exported by torch (logit parity with torch checked);
* ``model.opt.onnx``: the same graph after ONNX Runtime's transformer optimizer (fused attention, GELU,
  LayerNorm; parity checked);
* ``model.int8.onnx``: dynamic per-channel INT8 of the optimised graph;

and, with OpenVINO on, ``model.ov.xml`` + ``model.ov.bin``: the model converted from torch to OpenVINO IR with fp32
weights (parity checked), which the ``openvino`` and ``openvino_bf16`` backends run, and ``model.ov_int8.xml`` +
``.bin``: static INT8 of that IR by NNCF's post-training quantisation, its activation ranges calibrated on unlabelled
pairs that are not the gate's (the dev split in the pipeline), for the ``openvino_int8`` backend.

Every reduced-precision backend (INT8; bf16 torch and bf16 OpenVINO, which need no file of their own) is published
only when its macro-F1 on the gold test split is at most ``max_macro_f1_drop`` below torch fp32's; the gate's
figures (and argmax agreement) go into ``metrics.json`` under ``reduced_precision``. A refused INT8 file is deleted.

``manifest.json`` is written last.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from relevance_distill import storage
from relevance_distill.config import PRIMARY_STUDENT_METHOD
from relevance_distill.layout import (
    EVALUATION_SUMMARY,
    EXPORT_INFO,
    LABEL_SCHEME_FILE,
    METRICS_FILE,
    model_uri,
)
from relevance_distill.progress import report_result
from relevance_distill.schemas import LabelScheme, QueryServicePair, StrictModel
from relevance_distill.serving.backends import (
    BACKEND_FILES,
    OPENVINO_WEIGHTS,
    BackendUnavailable,
    backend_files,
    batched_logits,
    load_backend,
)

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 18
# The optimizer rewrites float arithmetic (fused LayerNorm and attention), so its parity budget is looser than the
# plain export's; both are far below what could change a label (logits of a trained head differ by whole units).
ONNX_PARITY_TOLERANCE = 1e-4
OPTIMIZED_PARITY_TOLERANCE = 1e-3
GATE_SUB_BATCH = 64
CALIBRATION_BATCH = 10
# Operations of a sequence-classification head (BERT's pooler and classifier) that openvino_int8 keeps in float.
FLOAT_HEAD_PATTERNS = [".*pooler.*", ".*classifier.*"]


class ExportConfig(StrictModel):
    """What the export step writes besides the safetensors model."""

    onnx: bool = Field(default=True, description="Also write model.onnx and its optimised graph model.opt.onnx (logit "
                       "parity with torch checked); the ONNX serving backends need them.")
    quantize: bool = Field(default=True, description="Also write model.int8.onnx (dynamic per-channel INT8 of the "
                           "optimised graph) when it passes the accuracy gate on the gold test split; needs onnx.")
    openvino: bool = Field(default=True, description="Also write model.ov.xml/.bin (OpenVINO IR converted from torch, "
                           "fp32 weights, logit parity checked); the openvino and openvino_bf16 backends need them.")
    openvino_int8: bool = Field(default=True, description="Also write model.ov_int8.xml/.bin (static INT8 of the "
                                "OpenVINO IR: NNCF post-training quantisation, activation ranges calibrated on the "
                                "calibration pairs) when it passes the accuracy gate on the gold test split; needs "
                                "openvino and calibration pairs.")
    max_calibration_pairs: int = Field(default=300, ge=1, description="Pairs of the calibration split (the first N) whose "
                                   "activations set the INT8 ranges of openvino_int8.")
    bfloat16: bool = Field(default=True, description="Offer the bf16 serving backends (torch_bf16, and openvino_bf16 "
                           "when openvino is on: the fp32 weights run in bfloat16) when they pass the accuracy gate on "
                           "the gold test split.")
    max_macro_f1_drop: float = Field(default=0.005, ge=0.0, le=1.0, description="Largest macro-F1 loss of a "
                                     "reduced-precision backend (INT8, bf16) against torch fp32 on the gold test split "
                                     "that still publishes it (0.005 = 0.5 points).")


def _parity_batches(tokenizer: Any, max_length: int) -> list[dict[str, np.ndarray]]:
    """Two batches of different shapes (3 pairs padded to MAX_LENGTH, and the 2 shorter ones alone), so that a
    graph whose batch or sequence size was frozen at export fails the check."""
    from relevance_distill.encoding import ViewEncoder, collate_arrays

    encoder = ViewEncoder(tokenizer, max_length, max_length)
    standard, _ = encoder.encode(["hotpot with private room in Chaoyang", "朝阳 火锅 包间", "usb cable"],
                                 ["Golden Hotpot (Chaoyang) | category: Food > Hotpot | price: 88",
                                  "金鼎火锅(朝阳店) | 美食 > 火锅", "Anker USB-C cable 1m braided " * 20])
    return [collate_arrays(standard, encoder.pad_id), collate_arrays(standard[:2], encoder.pad_id)]


def _torch_logits(classifier: Any, batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    import torch

    with torch.inference_mode():
        return [classifier(**{name: torch.from_numpy(batch[name]) for name in ONNX_INPUTS}).logits.numpy()
                for batch in batches]


def _logits_only(classifier: Any) -> Any:
    """CLASSIFIER as a module from the three input arrays to the logits (what the exporters trace)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    return LogitsOnly(classifier).eval()


def _check_parity(backend: str, directory: Path, batches: list[dict[str, np.ndarray]], expected: list[np.ndarray],
                  tolerance: float) -> float:
    """The largest |logit difference| between BACKEND and torch over BATCHES; beyond TOLERANCE the backend's files
    are deleted and the export fails."""
    path = directory / BACKEND_FILES[backend]
    loaded = load_backend(backend, directory, threads=1)
    max_diff = max(float(np.abs(loaded.logits(batch) - reference).max()) for batch, reference in zip(batches, expected))
    if max_diff > tolerance:
        for file in backend_files(backend):
            (directory / file).unlink()
        raise RuntimeError(f"{path.name} parity failed: max |logit difference| {max_diff:.2e} > tolerance {tolerance:.0e}")
    return max_diff


def export_onnx(classifier: Any, tokenizer: Any, directory: Path, max_length: int) -> dict[str, dict[str, Any]]:
    """Write model.onnx and model.opt.onnx into DIRECTORY and check both against torch's logits."""
    import torch
    from onnxruntime.transformers import optimizer

    classifier.eval()
    batches = _parity_batches(tokenizer, max_length)
    path = directory / BACKEND_FILES["onnx"]
    tensors = {name: torch.from_numpy(batches[0][name]) for name in ONNX_INPUTS}
    # The torch.export-based exporter: the TorchScript one traces transformers' mask logic as constants and
    # misses parity by ~1e-2 on BERT.
    batch_dim, sequence_dim = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    program = torch.onnx.export(_logits_only(classifier), tuple(tensors[name] for name in ONNX_INPUTS),
                                input_names=list(ONNX_INPUTS), output_names=["logits"], opset_version=ONNX_OPSET,
                                dynamic_shapes={name: {0: batch_dim, 1: sequence_dim} for name in ONNX_INPUTS},
                                dynamo=True, external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    expected = _torch_logits(classifier, batches)
    backends = {"onnx": {"file": path.name, "opset": ONNX_OPSET, "published": True, "tolerance": ONNX_PARITY_TOLERANCE,
                         "parity_max_abs_diff": _check_parity("onnx", directory, batches, expected,
                                                              ONNX_PARITY_TOLERANCE)}}

    optimized_path = directory / BACKEND_FILES["onnx_optimized"]
    config = classifier.config
    optimized = optimizer.optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size, opt_level=1)
    optimized.save_model_to_file(str(optimized_path))
    fused = {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}
    backends["onnx_optimized"] = {
        "file": optimized_path.name, "published": True, "fused": fused, "tolerance": OPTIMIZED_PARITY_TOLERANCE,
        "parity_max_abs_diff": _check_parity("onnx_optimized", directory, batches, expected,
                                             OPTIMIZED_PARITY_TOLERANCE)}
    return backends


def export_openvino(classifier: Any, tokenizer: Any, directory: Path, max_length: int) -> dict[str, dict[str, Any]]:
    """Write model.ov.xml/.bin (OpenVINO IR converted from torch, fp32 weights, every dimension dynamic) into
    DIRECTORY and check it against torch's logits on two batch shapes."""
    import warnings

    import openvino
    import torch

    classifier.eval()
    batches = _parity_batches(tokenizer, max_length)
    example = {name: torch.from_numpy(batches[0][name]) for name in ONNX_INPUTS}
    with warnings.catch_warnings():
        # Tracing warns about transformers' Python-side shape checks; for an encoder they do not depend on the input.
        warnings.simplefilter("ignore")
        model = openvino.convert_model(_logits_only(classifier), example_input=example,
                                       input=[(name, [-1, -1], openvino.Type.i64) for name in ONNX_INPUTS])
    model.outputs[0].get_tensor().set_names({"logits"})
    path = directory / BACKEND_FILES["openvino"]
    # fp16 weight compression is openvino.save_model's default; the fp32 backend must keep fp32 weights.
    openvino.save_model(model, str(path), compress_to_fp16=False)
    expected = _torch_logits(classifier, batches)
    return {"openvino": {"file": path.name, "weights": OPENVINO_WEIGHTS, "published": True,
                         "openvino_version": openvino.__version__, "tolerance": OPTIMIZED_PARITY_TOLERANCE,
                         "parity_max_abs_diff": _check_parity("openvino", directory, batches, expected,
                                                              OPTIMIZED_PARITY_TOLERANCE)}}


def _standard_views(tokenizer: Any, max_length: int, pairs: list[QueryServicePair]) -> tuple[list[Any], int]:
    """The standard views of PAIRS as serving encodes them, and the pad id."""
    from relevance_distill.encoding import MAX_QUERY_TOKENS, ViewEncoder

    encoder = ViewEncoder(tokenizer, max_length, max_length, MAX_QUERY_TOKENS)
    return encoder.encode_pairs(pairs)[0], encoder.pad_id


def quantize_openvino_int8(directory: Path, tokenizer: Any, max_length: int, calibration: list[QueryServicePair],
                           max_pairs: int) -> dict[str, dict[str, Any]]:
    """model.ov_int8.xml/.bin: NNCF's static INT8 of model.ov.xml with the transformer preset (softmax, LayerNorm and
    GELU stay in float; SmoothQuant and bias correction), activation ranges from the standard views of the first
    MAX_PAIRS CALIBRATION pairs in batches as serving sees them. The classification head (pooler and classifier)
    stays in float: it is a sliver of the compute, and quantising it moved a trained student's test labels (argmax
    agreement with fp32 0.953, macro-F1 -1.9 points; with the head in float 0.984 and +0.7). The accuracy gate
    decides whether it is published."""
    import contextlib
    import io
    import logging

    import nncf
    import openvino

    from relevance_distill.encoding import collate_arrays

    views, pad_id = _standard_views(tokenizer, max_length, calibration[:max_pairs])
    core = openvino.Core()
    model = core.read_model(str(directory / BACKEND_FILES["openvino"]))
    names = [port.get_any_name() for port in model.inputs]
    batches = [collate_arrays(views[start:start + CALIBRATION_BATCH], pad_id)
               for start in range(0, len(views), CALIBRATION_BATCH)]
    nncf.set_log_level(logging.ERROR)
    # NNCF draws its own progress bars on stdout; the export reports one result line instead.
    with contextlib.redirect_stdout(io.StringIO()):
        quantized = nncf.quantize(model, nncf.Dataset([{name: batch[name] for name in names} for batch in batches]),
                                  model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches),
                                  ignored_scope=nncf.IgnoredScope(patterns=FLOAT_HEAD_PATTERNS, validate=False))
    path = directory / BACKEND_FILES["openvino_int8"]
    openvino.save_model(quantized, str(path), compress_to_fp16=False)
    return {"openvino_int8": {"file": path.name, "calibration_pairs": len(views), "nncf_version": nncf.__version__}}


def gate_decision(gold: np.ndarray, fp32: np.ndarray, reduced: np.ndarray, num_labels: int,
                  max_drop: float) -> dict[str, Any]:
    """Publish a reduced-precision backend only when its macro-F1 on the gold labels is at most MAX_DROP below
    fp32's."""
    from relevance_distill.evaluation.metrics import macro_f1

    fp32_f1, reduced_f1 = macro_f1(gold, fp32, num_labels), macro_f1(gold, reduced, num_labels)
    drop = fp32_f1 - reduced_f1
    return {"test_pairs": int(len(gold)), "fp32_macro_f1": fp32_f1, "reduced_macro_f1": reduced_f1,
            "macro_f1_drop": drop, "max_macro_f1_drop": max_drop, "argmax_agreement": float((fp32 == reduced).mean()),
            "published": bool(drop <= max_drop)}


def quantize_int8(directory: Path) -> None:
    """model.int8.onnx: dynamic INT8 of the optimised graph, one scale per output channel (per-tensor scales cost
    2.5 macro-F1 points on the demo student, per-channel none)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(directory / BACKEND_FILES["onnx_optimized"]), str(directory / BACKEND_FILES["onnx_int8"]),
                     weight_type=QuantType.QInt8, per_channel=True)


def gate_reduced_precision(directory: Path, names: list[str], tokenizer: Any, max_length: int, scheme: LabelScheme,
                           test_pairs: list[QueryServicePair], max_drop: float) -> dict[str, dict[str, Any]]:
    """Gate each reduced-precision backend in NAMES against torch fp32 on the gold TEST_PAIRS; a refused backend's
    file is deleted."""
    labelled = [pair for pair in test_pairs if pair.label is not None]
    if not labelled:
        raise ValueError("the reduced-precision accuracy gate got a test split without gold labels")
    views, pad_id = _standard_views(tokenizer, max_length, labelled)
    gold = np.array([scheme.index(pair.label) for pair in labelled])

    def predictions(name: str) -> np.ndarray:
        return batched_logits(load_backend(name, directory), views, pad_id, GATE_SUB_BATCH).argmax(1)

    reference = predictions("torch")
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            reduced = predictions(name)
        except BackendUnavailable as reason:
            # The gate cannot measure it here (the exporting machine lacks the instructions): not published.
            results[name] = {"published": False, "unavailable": str(reason)}
            continue
        gate = gate_decision(gold, reference, reduced, scheme.num_labels, max_drop)
        files = backend_files(name)
        if not gate["published"]:
            for file in files:
                (directory / file).unlink()
        results[name] = {**({"file": files[0]} if files else {}), "published": gate["published"], "gate": gate}
    return results

def _model_card(name: str, version: str, scheme: LabelScheme, metrics: dict[str, Any], info: dict[str, Any]) -> str:
    test = metrics.get("test", {})
    lines = [f"# {name} {version}", "",
             "Query–service relevance cross-encoder (standard view of a CRSD-trained student, arXiv 2510.11056).", "",
             f"- labels ({scheme.name}): " + ", ".join(f"{l.name} ({l.grade:g})" for l in scheme.labels),
             f"- input: `[CLS] query [SEP] service text [SEP]`, max {info['max_length']} tokens; service text is "
             "`Service.to_text()` of relevance-distill",
             "- score: expected grade under the predicted distribution, normalised to [0, 1]",
             f"- training method: {info.get('method', 'unknown')}",
             "- serving backends: " + ", ".join(name for name, entry in info["backends"].items() if entry["published"])
             + " (`--backend auto` times them at load and serves the fastest)"]
    if test:
        lines.append(f"- test macro-F1 {test.get('macro_f1', 0):.4f}, accuracy {test.get('accuracy', 0):.4f}, "
                     f"QWK {test.get('qwk', 0):.4f} on {test.get('count')} gold pairs")
    for backend, entry in info["backends"].items():
        gate = entry.get("gate")
        if gate:
            lines.append(f"- {backend} gate on {gate['test_pairs']} gold pairs: macro-F1 {gate['reduced_macro_f1']:.4f} vs "
                         f"fp32 {gate['fp32_macro_f1']:.4f} (drop {gate['macro_f1_drop']:+.4f}, limit "
                         f"{gate['max_macro_f1_drop']}), argmax agreement {gate['argmax_agreement']:.3f}: "
                         f"{'published' if gate['published'] else 'not published'}")
    if metrics.get("latency"):
        lines.append(f"- CPU latency (torch, evaluation), one query × 50 services: p50 {metrics['latency']['p50_ms']:.1f} ms, "
                     f"p99 {metrics['latency']['p99_ms']:.1f} ms ({metrics['latency'].get('threads')} threads)")
    return "\n".join(lines) + "\n"


def export_student(model_dir: str | Path, output_root_uri: str, scheme: LabelScheme, name: str, version: str,
                   metrics: dict[str, Any] | None = None, method: str = PRIMARY_STUDENT_METHOD,
                   config: ExportConfig | None = None,
                   test_pairs: list[QueryServicePair] | None = None,
                   local_copy: str | Path | None = None,
                   calibration_pairs: list[QueryServicePair] | None = None,
                   decoding: str = "argmax") -> dict[str, Any]:
    """Export the standard view of the trained student in ``model_dir`` and publish it (manifest last); inputs are
    built with the token budget the model was trained with. DECODING is the one the gate judged ('argmax' or
    'ordinal'): ``relevance_distill.json`` carries it, with the dev-tuned cut-points, so the predictor serves the
    labels that were gated. TEST_PAIRS (gold) feed the accuracy gate of the
    reduced-precision backends (INT8, bf16); CALIBRATION_PAIRS (labels unused; not the test split) set the
    activation ranges of openvino_int8."""
    from relevance_distill.encoding import MAX_QUERY_TOKENS, load_view_settings
    from relevance_distill.evaluation.evaluate import load_standard_view

    config = config or ExportConfig()
    gated = ((["torch_bf16"] if config.bfloat16 else []) + (["onnx_int8"] if config.onnx and config.quantize else [])
             + (["openvino_bf16"] if config.openvino and config.bfloat16 else [])
             + (["openvino_int8"] if config.openvino and config.openvino_int8 else []))
    if gated and not test_pairs:
        raise ValueError(f"the reduced-precision backends {gated} need the gold test split for their accuracy gate: "
                         "pass the test split (--test / test_uri) or turn them off (--no-quantize --no-bfloat16 "
                         "--no-openvino-int8)")
    if "openvino_int8" in gated and not calibration_pairs:
        raise ValueError("openvino_int8 needs calibration pairs (unlabelled pairs other than the test split, e.g. the "
                         "dev split: --calibration / calibration_uri) or --no-openvino-int8")
    metrics = dict(metrics or {})
    classifier, tokenizer = load_standard_view(model_dir)
    max_length = load_view_settings(model_dir)["max_length"]
    info: dict[str, Any] = {"format": 1, "name": name, "version": version, "method": method, "max_length": max_length,
                            "max_query_tokens": MAX_QUERY_TOKENS, "label_scheme": scheme.name,
                            "decoding": decoding_record(model_dir, decoding, scheme)}
    with tempfile.TemporaryDirectory(prefix="relevance-distill-export-") as staging_name:
        staging = Path(staging_name)
        classifier.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        backends: dict[str, Any] = {"torch": {"file": "model.safetensors", "published": True}}
        if config.onnx:
            backends.update(export_onnx(classifier, tokenizer, staging, max_length))
            if config.quantize:
                quantize_int8(staging)
        if config.openvino:
            backends.update(export_openvino(classifier, tokenizer, staging, max_length))
            if config.openvino_int8:
                backends.update(quantize_openvino_int8(staging, tokenizer, max_length, calibration_pairs,
                                                       config.max_calibration_pairs))
        if gated:
            # The gate's verdict joins what the step that wrote a backend recorded (e.g. its calibration).
            for backend, verdict in gate_reduced_precision(staging, gated, tokenizer, max_length, scheme, test_pairs,
                                                           config.max_macro_f1_drop).items():
                backends[backend] = {**backends.get(backend, {}), **verdict}
            metrics["reduced_precision"] = {backend: backends[backend]["gate"] for backend in gated
                                            if "gate" in backends[backend]}
        info["backends"] = backends
        (staging / LABEL_SCHEME_FILE).write_text(scheme.model_dump_json(indent=2), encoding="utf-8")
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        (staging / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        (staging / "README.md").write_text(_model_card(name, version, scheme, metrics, info), encoding="utf-8")
        uri = model_uri(output_root_uri, name, version)
        manifest = storage.publish_dir(staging, uri, metadata={"stage": "export_student", **info})
        if local_copy is not None:
            shutil.rmtree(local_copy, ignore_errors=True)
            shutil.copytree(staging, local_copy)
            (Path(local_copy) / storage.MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    gates = ", ".join(f"{backend} drop {gate['macro_f1_drop']:+.4f} {'published' if gate['published'] else 'refused'}"
                      for backend, gate in metrics.get("reduced_precision", {}).items())
    report_result(f"exported {method} to {uri} ({len(manifest.files)} files{'; ' + gates if gates else ''})")
    return {"model_uri": uri, "files": sorted(manifest.files), **info}


def decoding_record(model_dir: str | Path, decoding: str, scheme: LabelScheme) -> dict[str, Any]:
    """What the export records of DECODING: ``{"method": "argmax"}`` or ``{"method": "ordinal", "cutpoints": [...]}``
    (the cut-points the trainer tuned on dev, saved with the model)."""
    from relevance_distill.evaluation.evaluate import DECODINGS, load_cutpoints

    if decoding not in DECODINGS:
        raise ValueError(f"unknown decoding {decoding!r}; allowed: {list(DECODINGS)}")
    if decoding == "argmax":
        return {"method": "argmax"}
    cutpoints = load_cutpoints(model_dir)
    if cutpoints is None or len(cutpoints) != scheme.num_labels - 1:
        raise ValueError(f"decoding 'ordinal' needs {scheme.num_labels - 1} cut-points in {model_dir}/decoding.json "
                         f"(found {cutpoints}); export with decoding 'argmax' or retrain the student")
    return {"method": "ordinal", "cutpoints": [float(point) for point in cutpoints]}


def export_evaluated(models_dir: str | Path, evaluation_dir: str | Path, output_root_uri: str, scheme: LabelScheme,
                     name: str, version: str, config: ExportConfig | None = None, method: str | None = None,
                     local_copy: str | Path | None = None, test_uri: str = "",
                     calibration_uri: str = "", decoding: str = "argmax") -> dict[str, Any]:
    """Export one method of a student training run with the metrics its evaluation measured; the method defaults
    to the evaluation's primary one (the model the gate judged). TEST_URI is the gold test split of that evaluation
    (the reduced-precision gate's data); CALIBRATION_URI holds the pairs that calibrate openvino_int8 (the dev
    split; labels unused)."""
    from relevance_distill.data.readers import read_models
    from relevance_distill.evaluation.evaluate import BEST_DIR

    config = config or ExportConfig()
    evaluation = Path(evaluation_dir)
    method = method or json.loads((evaluation / EVALUATION_SUMMARY).read_text(encoding="utf-8"))["primary"]
    metrics_path = evaluation / "metrics" / f"{method}.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"the evaluation in {evaluation_dir} has no metrics for method {method!r}")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    test_pairs = read_models(test_uri, QueryServicePair) if test_uri else None
    calibration_pairs = read_models(calibration_uri, QueryServicePair) if calibration_uri else None
    return export_student(Path(models_dir) / method / BEST_DIR, output_root_uri, scheme, name, version, metrics, method,
                          config, test_pairs, local_copy, calibration_pairs, decoding)
