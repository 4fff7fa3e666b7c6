"""`relevance-distill train-student | evaluate | gate | export`: the student stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from relevance_distill import storage
from relevance_distill.cli.common import (
    app,
    fail,
    print_counts,
    read_pairs,
    scheme_from,
)
from relevance_distill.config import (
    DEFAULT_STUDENT_METHODS,
    STUDENT_METHODS,
    ConfigError,
    load_config,
)
from relevance_distill.reporting import best_dev_phrase

SCHEME_HELP = "Built-in label scheme name or a label_scheme.json (default: the prepared data's default scheme)."


@app.command("train-student")
def train_student_command(
    train: Annotated[str, typer.Option(help="Training pairs with gold labels (JSONL, our schema; local or s3://).")],
    dev: Annotated[str, typer.Option(help="Dev pairs with gold labels (early stopping, best checkpoint).")],
    output: Annotated[Path, typer.Option(help="Directory; one sub-directory per method and training.json.")],
    annotations: Annotated[Optional[str], typer.Option(help="Teacher annotations (JSONL of Annotation): the labels of "
                                                            "pairs without a gold label; a gold pair takes the teacher's reasoning only where the teacher "
                                                            "agrees with its gold label. Without them gold labels and reasoning stand in.")] = None,
    annotated_pairs: Annotated[Optional[str], typer.Option(help="Pairs the teacher annotated (e.g. search logs), added "
                                                                "to the training set where an annotation exists.")] = None,
    methods: Annotated[Optional[str], typer.Option(help=f"Comma-separated methods (default: {','.join(DEFAULT_STUDENT_METHODS)}); "
                                                        f"all: {', '.join(STUDENT_METHODS)} (StudentTrainConfig.method).")] = None,
    profile: Annotated[Optional[str], typer.Option(help="Student profile, smoke or demo (default demo).")] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML of StudentTrainConfig fields; wins over the profile.")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(help=SCHEME_HELP)] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Override the step budget.")] = None,
    extra_gold: Annotated[Optional[str], typer.Option(help="Extra gold-labelled pairs (JSONL) that method gold_augmented "
                                                           "adds to the gold pairs, e.g. those the teacher's SFT saw.")] = None,
) -> None:
    """Train CRSD and/or baselines with identical data, steps and seeds."""
    import yaml

    from relevance_distill.config import parse_methods, student_config_for
    from relevance_distill.student.compare import train_from_uris

    try:
        overrides = (yaml.safe_load(config_file.read_text()) if config_file else None) or {}
        if max_steps:
            overrides["max_steps"] = max_steps
        result = train_from_uris(train, dev, output, parse_methods(methods), student_config_for(profile, **overrides),
                                 scheme_from(label_scheme), annotations or "", annotated_pairs or "", extra_gold or "")
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    print_counts("student training", {**{m: f"best dev {best_dev_phrase(r)} at step {r['best_step']}, "
                                            f"{r['steps']} steps, {r['seconds']:.0f}s" for m, r in result["methods"].items()},
                                      "data": result["data"]})


@app.command("evaluate")
def evaluate_command(
    test: Annotated[str, typer.Option(help="Gold test pairs (JSONL).")],
    models: Annotated[Path, typer.Option(help="train-student's output directory (every method in its training.json).")],
    out: Annotated[Path, typer.Option(help="Directory for metrics/, predictions/, metrics.json, summary.json, report.html.")],
    label_scheme: Annotated[Optional[str], typer.Option(help=SCHEME_HELP)] = None,
    teacher_macro_f1: Annotated[Optional[float], typer.Option(help="Teacher macro-F1 on the same gold set (retention).")] = None,
    latency_requests: Annotated[Optional[int], typer.Option(help="Timed 1 × 50 requests per model (default 30; 0 skips).")] = None,
    dev: Annotated[Optional[str], typer.Option(help="Gold dev pairs (JSONL): every method is also measured there, "
                                               "where `gate` compares the distilled student with the gold-only one.")] = None,
) -> None:
    """Evaluate every trained method on a gold test set (and dev) and write the report (metrics only; `gate` decides)."""
    from relevance_distill.config import EvaluationConfig, config_from_arguments
    from relevance_distill.evaluation.evaluate import evaluate_trained

    try:
        config = config_from_arguments(EvaluationConfig, latency_requests=latency_requests)
        summary = evaluate_trained(models, read_pairs(test), scheme_from(label_scheme), out, teacher_macro_f1,
                                   config.latency_requests, read_pairs(dev) if dev else None)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    print_counts("evaluation (test)", {m: f"macro-F1 {r['test']['macro_f1']:.4f}, QWK {r['test']['qwk']:.4f}, "
                                           f"acc {r['test']['accuracy']:.4f}" for m, r in summary["methods"].items()})
    print(f"report: {summary['report']}")


@app.command("gate")
def gate_command(
    evaluation: Annotated[Path, typer.Option(help="The `evaluate` output directory (its metrics.json is judged).")],
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML GateConfig (default thresholds otherwise).")] = None,
    production_metrics: Annotated[Optional[str], typer.Option(help="metrics.json of the model in production (same test set).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write gate.json (default EVALUATION/gate.json).")] = None,
) -> None:
    """The release gate, as the pipeline's gate step decides it: the distilled student against the gold-only one on
    dev (which is published), thresholds and no regression against production. Exits 1 when it fails."""
    from relevance_distill.config import GateConfig
    from relevance_distill.evaluation.gate import gate_evaluation

    try:
        config = load_config(GateConfig, config_file) if config_file else GateConfig()
        production = json.loads(storage.read_text(production_metrics)) if production_metrics else None
        decision = gate_evaluation(evaluation, config, production)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    path = out or evaluation / "gate.json"
    path.write_text(json.dumps(decision, indent=2), encoding="utf-8")
    published = f" ({decision['published_method']} published)" if decision["passed"] else ""
    print(f"gate {'PASSED' if decision['passed'] else 'FAILED'}{published}: {'; '.join(decision['reasons'])}")
    print(f"written: {path}")
    if not decision["passed"]:
        raise typer.Exit(code=1)


@app.command("export")
def export_command(
    models: Annotated[Path, typer.Option(help="train-student's output directory.")],
    evaluation: Annotated[Path, typer.Option(help="The `evaluate` output for those models (its metrics ship with the model).")],
    output_root: Annotated[str, typer.Option(help="Root URI; the model goes to ROOT/models/NAME/VERSION/.")],
    method: Annotated[Optional[str], typer.Option(help="Method to export (default: the evaluation's primary method).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name (default: the InferenceService's model name).")] = None,
    version: Annotated[Optional[str], typer.Option(help="Version; default a UTC timestamp.")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(help=SCHEME_HELP)] = None,
    onnx: Annotated[Optional[bool], typer.Option("--onnx/--no-onnx", help="Also export model.onnx, parity-checked (default on).")] = None,
    quantize: Annotated[Optional[bool], typer.Option(
        "--quantize/--no-quantize", help="Also export INT8 model.int8.onnx when it passes the accuracy gate on --test "
                                         "(default on).")] = None,
    openvino: Annotated[Optional[bool], typer.Option(
        "--openvino/--no-openvino", help="Also export model.ov.xml/.bin (OpenVINO IR), parity-checked (default on).")] = None,
    openvino_int8: Annotated[Optional[bool], typer.Option(
        "--openvino-int8/--no-openvino-int8", help="Also export static INT8 model.ov_int8.xml/.bin (NNCF, calibrated "
                                                   "on --calibration) when it passes the accuracy gate on --test "
                                                   "(default on).")] = None,
    calibration: Annotated[Optional[str], typer.Option(
        help="Pairs (JSONL, labels unused; not the test split, e.g. the dev split) that calibrate openvino_int8.")] = None,
    bfloat16: Annotated[Optional[bool], typer.Option(
        "--bfloat16/--no-bfloat16", help="Offer the bf16 backends (torch_bf16, openvino_bf16) when they pass the "
                                         "accuracy gate on --test (default on).")] = None,
    test: Annotated[Optional[str], typer.Option(
        help="Gold test split (JSONL) for the accuracy gate of INT8 and bf16.")] = None,
    max_macro_f1_drop: Annotated[Optional[float], typer.Option(
        help="Largest macro-F1 loss of INT8 or bf16 against fp32 on --test (0.005 = 0.5 points).")] = None,
    local_copy: Annotated[Optional[Path], typer.Option(help="Also keep the exported files here.")] = None,
    decoding: Annotated[Optional[str], typer.Option(
        help="argmax or ordinal (dev-tuned cut-points) for the served labels; default: what EVALUATION/gate.json "
             "judged, else argmax.")] = None,
) -> None:
    """Export one trained method's standard view (projection head dropped) and publish it with a manifest."""
    from datetime import datetime, timezone

    from relevance_distill.config import config_from_arguments, field_default
    from relevance_distill.export import ExportConfig, export_evaluated
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    if decoding is None and (evaluation / "gate.json").is_file():
        import json

        decoding = json.loads((evaluation / "gate.json").read_text(encoding="utf-8")).get("decoding")
    try:
        result = export_evaluated(models, evaluation, output_root, scheme_from(label_scheme),
                                  name or field_default(InferenceServiceConfig, "name"),
                                  version or datetime.now(timezone.utc).strftime("v%Y%m%d%H%M%S"),
                                  config_from_arguments(ExportConfig, onnx=onnx, quantize=quantize, openvino=openvino,
                                                        openvino_int8=openvino_int8, bfloat16=bfloat16,
                                                        max_macro_f1_drop=max_macro_f1_drop),
                                  method, local_copy, test_uri=test or "", calibration_uri=calibration or "",
                                  decoding=decoding or "argmax")
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    published = [backend for backend, entry in result["backends"].items() if entry["published"]]
    print(f"published {result['model_uri']} ({result['method']}, {result['decoding']['method']} decoding, "
          f"{len(result['files'])} files, "
          f"backends {', '.join(published)})")
