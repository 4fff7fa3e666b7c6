"""The default of every pipeline parameter, read from the config model that owns it (never restated).

It sits above ``config.py`` and ``rollout/`` because it reads configs of both.
"""

from __future__ import annotations

from typing import Any

from relevance_distill.config import (
    DEFAULT_PROFILE,
    DEFAULT_STUDENT_METHODS,
    RUN_PROFILES,
    AnnotationRunConfig,
    EngineConfig,
    EvaluationConfig,
    GateConfig,
    KubernetesConfig,
    PrepareDataConfig,
    TeacherRunConfig,
    field_default,
)
from relevance_distill.rollout.abtest import ABTestConfig
from relevance_distill.rollout.isvc import InferenceServiceConfig


def teacher_gain_parameter(min_gain: float | None) -> float:
    """TeacherRunConfig.min_gain_over_majority as a pipeline parameter (a float): None, 'never skip', is -1."""
    return -1.0 if min_gain is None else min_gain


def gold_only_loss_parameter(max_loss: float | None) -> float:
    """GateConfig.max_loss_to_gold_only as a pipeline parameter (a float): None, 'skip the comparison', is a loss
    of the whole macro-F1 range, which no student can exceed."""
    return 1.0 if max_loss is None else max_loss


def pipeline_defaults(cluster: KubernetesConfig | None = None) -> dict[str, Any]:
    """Default of every pipeline parameter that a config model owns, read from that model (never restated).

    Both pipelines take their signatures' defaults from here; a test compares the compiled pipelines with it.
    """
    cluster = cluster or KubernetesConfig()
    return {
        "teacher_profile": DEFAULT_PROFILE,
        "teacher_eval_pairs": field_default(TeacherRunConfig, "eval_pairs"),
        "teacher_min_gain_over_majority": teacher_gain_parameter(field_default(TeacherRunConfig, "min_gain_over_majority")),
        # A compiled pipeline always trains on its user's data.
        "student_profile": RUN_PROFILES[DEFAULT_PROFILE].own_data_student_profile,
        "input_format": field_default(PrepareDataConfig, "input_format"),
        "label_scheme": field_default(PrepareDataConfig, "label_scheme"),
        "split_strategy": field_default(PrepareDataConfig, "split_strategy"),
        "split_seed": field_default(PrepareDataConfig, "seed"),
        "gate_decoding": field_default(GateConfig, "decoding"),
        "annotation_engine": cluster.annotation_engine(),
        "annotation_samples": field_default(EngineConfig, "samples"),
        "annotation_temperature": field_default(EngineConfig, "temperature"),
        "annotation_max_new_tokens": field_default(EngineConfig, "max_new_tokens"),
        "annotation_max_pairs": field_default(AnnotationRunConfig, "max_pairs"),
        "student_methods": ",".join(DEFAULT_STUDENT_METHODS),
        "min_macro_f1": field_default(GateConfig, "min_macro_f1"),
        "min_retention": field_default(GateConfig, "min_retention"),
        "max_regression": field_default(GateConfig, "max_regression"),
        "max_loss_to_gold_only": gold_only_loss_parameter(field_default(GateConfig, "max_loss_to_gold_only")),
        "when_worse_than_gold_only": field_default(GateConfig, "when_worse_than_gold_only"),
        "latency_requests": field_default(EvaluationConfig, "latency_requests"),
        "deploy_mode": field_default(InferenceServiceConfig, "deploy_mode"),
        "service_name": field_default(InferenceServiceConfig, "name"),
        "namespace": field_default(InferenceServiceConfig, "namespace"),
        "canary_traffic_percent": field_default(InferenceServiceConfig, "canary_traffic_percent"),
        # The A/B analysis of a canary expects the canary's share of users.
        "expected_split": field_default(InferenceServiceConfig, "canary_traffic_percent") / 100,
        "alpha": field_default(ABTestConfig, "alpha"),
        "primary_metric": field_default(ABTestConfig, "primary_metric"),
    }


def submit_problem(compiled_pipeline: str, arguments: dict[str, Any]) -> str | None:
    """What would make a run fail at its end, told before it is submitted (None: nothing found). A distillation run in
    GitOps mode (the default) writes the stable overlay from ``stable_model_uri``, which has no default."""
    import yaml

    spec = next(yaml.safe_load_all(compiled_pipeline))
    parameters = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    if "stable_model_uri" not in parameters:
        return None
    mode = arguments.get("deploy_mode", parameters.get("deploy_mode", {}).get("defaultValue"))
    if mode == "gitops" and not arguments.get("stable_model_uri"):
        return ("deploy_mode 'gitops' writes the stable overlay from stable_model_uri, which is not set: add "
                "\"stable_model_uri\": \"s3://…/models/relevance/VERSION\" (the model now in production) to --params, or "
                "set \"deploy_mode\": \"apply\" to patch the live InferenceService instead")
    return None
