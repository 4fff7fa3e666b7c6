"""Export the standard-view student for serving and publish it to ``<root>/models/<name>/<version>/``.

The export holds only what production runs: encoder + classifier (the CRSD projection head is dropped) as
HF safetensors, the tokenizer, ``label_scheme.json``, ``metrics.json``, ``relevance_distill.json`` (how to
build the input exactly as in training), a model card ``README.md`` and, optionally, ``model.onnx`` (fp32,
parity-checked against torch) and ``model.int8.onnx`` (dynamic INT8). ``manifest.json`` is written last.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill import storage
from relevance_distill.progress import report_result
from relevance_distill.schemas import LabelScheme, StrictModel

EXPORT_INFO = "relevance_distill.json"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 18


class ExportConfig(StrictModel):
    """What the export step writes besides the safetensors model."""

    onnx: bool = Field(default=True, description="Also write model.onnx (logit parity with torch checked); the serving "
                       "backend 'onnx' needs it.")
    quantize: bool = Field(default=False, description="Also write model.int8.onnx (dynamic INT8; needs onnx).")


def model_uri(root_uri: str, name: str, version: str) -> str:
    return storage.join(root_uri, "models", name, version)


def _parity_batch(tokenizer: Any, max_length: int) -> dict[str, Any]:
    from relevance_distill.encoding import ViewEncoder, collate

    encoder = ViewEncoder(tokenizer, max_length, max_length)
    standard, _ = encoder.encode(["hotpot with private room in Chaoyang", "朝阳 火锅 包间", "usb cable"],
                                 ["Golden Hotpot (Chaoyang) | category: Food > Hotpot | price: 88",
                                  "金鼎火锅(朝阳店) | 美食 > 火锅", "Anker USB-C cable 1m braided " * 20])
    return collate(standard, encoder.pad_id)


def export_onnx(classifier: Any, tokenizer: Any, directory: Path, max_length: int, quantize: bool,
                tolerance: float = 1e-4) -> dict[str, Any]:
    """Write model.onnx (and model.int8.onnx) and check fp32 logits against torch within ``tolerance``."""
    import numpy as np
    import onnxruntime
    import torch

    classifier.eval()
    batch = _parity_batch(tokenizer, max_length)

    class LogitsOnly(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    path = directory / ONNX_FILE
    # The torch.export-based exporter: the TorchScript one traces transformers' mask logic as constants and
    # misses parity by ~1e-2 on BERT.
    batch_dim, sequence_dim = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    program = torch.onnx.export(LogitsOnly(classifier).eval(), tuple(batch[name] for name in ONNX_INPUTS),
                                input_names=list(ONNX_INPUTS), output_names=["logits"], opset_version=ONNX_OPSET,
                                dynamic_shapes={name: {0: batch_dim, 1: sequence_dim} for name in ONNX_INPUTS},
                                dynamo=True, external_data=False, verbose=False)
    program.save(str(path), external_data=False)
    with torch.inference_mode():
        expected = classifier(**batch).logits.numpy()
    feeds = {name: batch[name].numpy() for name in ONNX_INPUTS}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(["logits"], feeds)[0]
    max_diff = float(np.abs(actual - expected).max())
    if max_diff > tolerance:
        path.unlink()
        raise RuntimeError(f"ONNX parity failed: max |logit difference| {max_diff:.2e} > tolerance {tolerance:.0e}")
    info: dict[str, Any] = {"file": ONNX_FILE, "opset": ONNX_OPSET, "parity_max_abs_diff": max_diff, "tolerance": tolerance}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = directory / ONNX_INT8_FILE
        quantize_dynamic(str(path), str(int8_path), weight_type=QuantType.QInt8)
        quantized = onnxruntime.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"]).run(["logits"], feeds)[0]
        info["int8"] = {"file": ONNX_INT8_FILE, "max_abs_diff": float(np.abs(quantized - expected).max()),
                        "argmax_agreement": float((quantized.argmax(1) == expected.argmax(1)).mean())}
    return info


def _model_card(name: str, version: str, scheme: LabelScheme, metrics: dict[str, Any], info: dict[str, Any]) -> str:
    test = metrics.get("test", {})
    lines = [f"# {name} {version}", "",
             "Query–service relevance cross-encoder (standard view of a CRSD-trained student, arXiv 2510.11056).", "",
             f"- labels ({scheme.name}): " + ", ".join(f"{l.name} ({l.grade:g})" for l in scheme.labels),
             f"- input: `[CLS] query [SEP] service text [SEP]`, max {info['max_length']} tokens; service text is "
             "`Service.to_text()` of relevance-distill",
             "- score: expected grade under the predicted distribution, normalised to [0, 1]",
             f"- training method: {info.get('method', 'unknown')}"]
    if test:
        lines.append(f"- test macro-F1 {test.get('macro_f1', 0):.4f}, accuracy {test.get('accuracy', 0):.4f}, "
                     f"QWK {test.get('qwk', 0):.4f} on {test.get('count')} gold pairs")
    if metrics.get("latency"):
        lines.append(f"- CPU latency, one query × 50 services: p50 {metrics['latency']['p50_ms']:.1f} ms, "
                     f"p99 {metrics['latency']['p99_ms']:.1f} ms ({metrics['latency'].get('threads')} threads)")
    return "\n".join(lines) + "\n"


def export_student(model_dir: str | Path, output_root_uri: str, scheme: LabelScheme, name: str, version: str,
                   metrics: dict[str, Any] | None = None, method: str = "crsd",
                   onnx: bool = False, quantize: bool = False, local_copy: str | Path | None = None) -> dict[str, Any]:
    """Export the standard view of the trained student in ``model_dir`` and publish it (manifest last); inputs are
    built with the token budget the model was trained with."""
    from relevance_distill.encoding import MAX_QUERY_TOKENS, load_view_settings
    from relevance_distill.evaluation.evaluate import load_standard_view

    classifier, tokenizer = load_standard_view(model_dir)
    max_length = load_view_settings(model_dir)["max_length"]
    info = {"format": 1, "name": name, "version": version, "method": method, "max_length": max_length,
            "max_query_tokens": MAX_QUERY_TOKENS, "label_scheme": scheme.name}
    with tempfile.TemporaryDirectory(prefix="relevance-distill-export-") as staging_name:
        staging = Path(staging_name)
        classifier.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if onnx:
            info["onnx"] = export_onnx(classifier, tokenizer, staging, max_length, quantize)
        (staging / "label_scheme.json").write_text(scheme.model_dump_json(indent=2), encoding="utf-8")
        (staging / "metrics.json").write_text(json.dumps(metrics or {}, indent=2), encoding="utf-8")
        (staging / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        (staging / "README.md").write_text(_model_card(name, version, scheme, metrics or {}, info), encoding="utf-8")
        uri = model_uri(output_root_uri, name, version)
        manifest = storage.publish_dir(staging, uri, metadata={"stage": "export_student", **info})
        if local_copy is not None:
            shutil.rmtree(local_copy, ignore_errors=True)
            shutil.copytree(staging, local_copy)
            (Path(local_copy) / storage.MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    report_result(f"exported {method} to {uri} ({len(manifest.files)} files)")
    return {"model_uri": uri, "files": sorted(manifest.files), **info}


def export_evaluated(models_dir: str | Path, evaluation_dir: str | Path, output_root_uri: str, scheme: LabelScheme,
                     name: str, version: str, config: ExportConfig | None = None, method: str | None = None,
                     local_copy: str | Path | None = None) -> dict[str, Any]:
    """Export one method of a student training run with the metrics its evaluation measured; the method defaults
    to the evaluation's primary one (the model the gate judged)."""
    from relevance_distill.evaluation.evaluate import BEST_DIR

    config = config or ExportConfig()
    evaluation = Path(evaluation_dir)
    method = method or json.loads((evaluation / "summary.json").read_text(encoding="utf-8"))["primary"]
    metrics_path = evaluation / "metrics" / f"{method}.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"the evaluation in {evaluation_dir} has no metrics for method {method!r}")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    return export_student(Path(models_dir) / method / BEST_DIR, output_root_uri, scheme, name, version, metrics, method,
                          config.onnx, config.quantize, local_copy)
