"""One source of defaults: components and pipelines never restate a config model's default.

A component parameter that a config model owns has no default of its own (None means "the config's default"),
and every pipeline parameter with a value-carrying default takes it from ``pipeline_defaults()``, which reads the
config models. Writing a literal default into a component or pipeline signature fails here.
"""

from __future__ import annotations

import pytest
import yaml

from pipelines.compile import built_components, compile_all
from relevance_distill.config import (
    AnnotationRunConfig,
    EngineConfig,
    EvaluationConfig,
    GateConfig,
    KubernetesConfig,
    PrepareDataConfig,
    StudentTrainConfig,
    TeacherRunConfig,
    field_default,
)
from relevance_distill.export import ExportConfig
from relevance_distill.pipeline_parameters import pipeline_defaults
from relevance_distill.rollout.abtest import ABTestConfig
from relevance_distill.rollout.isvc import InferenceServiceConfig

CONFIG_MODELS = (PrepareDataConfig, EngineConfig, AnnotationRunConfig, GateConfig, EvaluationConfig,
                 InferenceServiceConfig, ABTestConfig, ExportConfig, StudentTrainConfig, TeacherRunConfig)
# Component parameters named differently from the config field they set.
ALIASES = {"mode": (InferenceServiceConfig, "deploy_mode"), "service_name": (InferenceServiceConfig, "name"),
           "methods": None, "profile": None, "name": (InferenceServiceConfig, "name")}
CONFIG_OWNED = {field for model in CONFIG_MODELS for field in model.model_fields} | set(ALIASES)
# Defaults that carry no setting: "not given" markers.
NO_VALUE = ("", "{}", None)


@pytest.mark.parametrize("name", sorted(built_components()))
def test_config_owned_component_parameters_have_no_default_of_their_own(name):
    component = built_components()[name]
    for parameter, spec in component.component_spec.inputs.items():
        if parameter in CONFIG_OWNED and spec.optional:
            assert spec.default is None, (
                f"{name}.{parameter} restates a config default ({spec.default!r}); default it to None")


def _pipeline_inputs(path):
    spec = next(yaml.safe_load_all(path.read_text()))
    return {name: parameter.get("defaultValue") for name, parameter in spec["root"]["inputDefinitions"]["parameters"].items()}


@pytest.mark.parametrize("cluster", [KubernetesConfig(), KubernetesConfig(gpu_count=1)], ids=["cpu", "gpu"])
def test_pipeline_defaults_come_from_the_config_models(tmp_path, cluster):
    compile_all(tmp_path, cluster, component_yaml=False)
    defaults = pipeline_defaults(cluster)
    for pipeline in ("distillation_pipeline", "ab_analysis_pipeline"):
        for parameter, value in _pipeline_inputs(tmp_path / f"{pipeline}.yaml").items():
            if parameter in defaults:
                assert value == defaults[parameter], f"{pipeline}.{parameter}: {value!r} != config {defaults[parameter]!r}"
            else:
                assert value in NO_VALUE, f"{pipeline}.{parameter} has its own default {value!r}: add it to pipeline_defaults()"


def test_the_table_reads_the_config_models():
    defaults = pipeline_defaults()
    assert defaults["min_retention"] == field_default(GateConfig, "min_retention") == 0.8
    assert defaults["annotation_temperature"] == field_default(EngineConfig, "temperature") == 0.7
    assert defaults["expected_split"] == field_default(InferenceServiceConfig, "canary_traffic_percent") / 100
    # The annotation engine follows the GPU request: vLLM's CUDA build cannot start without a GPU.
    assert defaults["annotation_engine"] == "transformers" and pipeline_defaults(KubernetesConfig(gpu_count=2))["annotation_engine"] == "vllm"
    # The local run's annotation settings are the engine's, not a second copy.
    assert AnnotationRunConfig().temperature == EngineConfig().temperature


def test_every_optional_integer_input_is_passed_by_the_pipelines(tmp_path):
    """kfp.local (2.17) casts an unpassed optional integer input with int(None) and fails the task, so every task
    of both pipelines passes its integer inputs explicitly (the values come from pipeline_defaults())."""
    compile_all(tmp_path, component_yaml=False)
    for pipeline in ("distillation_pipeline", "ab_analysis_pipeline"):
        spec = next(yaml.safe_load_all((tmp_path / f"{pipeline}.yaml").read_text()))
        components = spec["components"]

        def tasks(dag):
            for name, task in dag.get("tasks", {}).items():
                yield name, task
                inner = components[task["componentRef"]["name"]].get("dag")
                if inner:
                    yield from tasks(inner)

        for name, task in tasks(spec["root"]["dag"]):
            component = components[task["componentRef"]["name"]]
            if "dag" in component:
                continue
            parameters = component.get("inputDefinitions", {}).get("parameters", {})
            passed = task.get("inputs", {}).get("parameters", {})
            for parameter, definition in parameters.items():
                if definition["parameterType"] == "NUMBER_INTEGER" and definition.get("isOptional"):
                    assert parameter in passed or "defaultValue" in definition, f"{pipeline}: {name}.{parameter} is not passed"
