from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Input, Model

from components.images import component_image


@dsl.component(base_image=component_image("export_student"), install_kfp_package=False)
def export_student(
    models: Input[Model],
    evaluation: Input[Artifact],
    output_root_uri: str,
    version: str,
    gate_decision: Input[Artifact] = None,
    name: Optional[str] = None,
    method: Optional[str] = None,
    label_scheme: Optional[str] = None,
    onnx: Optional[bool] = None,
    quantize: Optional[bool] = None,
    openvino: Optional[bool] = None,
    openvino_int8: Optional[bool] = None,
    bfloat16: Optional[bool] = None,
    max_macro_f1_drop: Optional[float] = None,
    test_uri: str = "",
    calibration_uri: str = "",
) -> str:
    """Export METHOD's standard view (projection head dropped) to OUTPUT_ROOT_URI/models/NAME/VERSION/ with the
    metrics EVALUATION measured. METHOD defaults to the method GATE_DECISION published (the gold-only student when
    the distilled one trailed it), else to the evaluation's primary method,
    NAME to the InferenceService's model name. TEST_URI (the gold test split) feeds the accuracy gate of the
    reduced-precision backends (INT8, bf16 torch and OpenVINO): each is published only when its macro-F1 there is at most
    MAX_MACRO_F1_DROP below fp32's. CALIBRATION_URI (unlabelled pairs, not the test split: the dev split) sets the
    activation ranges of the static INT8 OpenVINO IR. The decoding the gate judged (argmax, or ordinal with the
    dev-tuned cut-points) goes into the export, so the predictor serves what was gated."""
    import json

    from relevance_distill.config import (
        config_from_arguments,
        field_default,
        label_scheme_named,
    )
    from relevance_distill.export import ExportConfig, export_evaluated
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    decoding = "argmax"
    if gate_decision is not None:
        with open(gate_decision.path, encoding="utf-8") as handle:
            gate = json.load(handle)
        method = method or gate.get("published_method")
        decoding = gate.get("decoding", decoding)  # serve what the gate judged
    result = export_evaluated(models.path, evaluation.path, output_root_uri, label_scheme_named(label_scheme),
                              name or field_default(InferenceServiceConfig, "name"), version,
                              config_from_arguments(ExportConfig, onnx=onnx, quantize=quantize, openvino=openvino,
                                                    openvino_int8=openvino_int8, bfloat16=bfloat16,
                                                    max_macro_f1_drop=max_macro_f1_drop),
                              method, test_uri=test_uri, calibration_uri=calibration_uri, decoding=decoding)
    return result["model_uri"]
