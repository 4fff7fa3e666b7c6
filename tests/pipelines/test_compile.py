"""Compiled pipelines: every component present, condition, secret references without values, GPU settings,
and the checked-in YAML is what the code compiles to."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.images import COMPONENT_IMAGES, IMAGE_UID
from pipelines.compile import built_components, compile_all
from relevance_distill.config import KubernetesConfig

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_yaml_is_up_to_date(tmp_path):
    compile_all(tmp_path, component_yaml=False)
    for name in ("distillation_pipeline.yaml", "ab_analysis_pipeline.yaml"):
        assert (tmp_path / name).read_text() == (ROOT / "pipelines" / "compiled" / name).read_text(), \
            f"pipelines/compiled/{name} is stale: run `relevance-distill compile`"
    from kfp import compiler

    for name, component in built_components().items():
        compiler.Compiler().compile(component, str(tmp_path / f"{name}.yaml"))
        assert (tmp_path / f"{name}.yaml").read_text() == (ROOT / "components" / name / "component.yaml").read_text(), \
            f"components/{name}/component.yaml is stale: run `relevance-distill compile`"


def test_distillation_pipeline_structure(tmp_path):
    compile_all(tmp_path, KubernetesConfig(gpu_count=1, node_selector={"pool": "gpu"},
                                           tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
                component_yaml=False)
    documents = list(yaml.safe_load_all((tmp_path / "distillation_pipeline.yaml").read_text()))
    spec, platform = documents[0], documents[1]
    executors = spec["deploymentSpec"]["executors"]
    for component in ("prepare-data", "teacher-cpt", "teacher-sft", "reward-model", "teacher-preference", "use-existing-model",
                      "annotate-shard", "merge-annotations", "train-student", "evaluate-student", "gate", "export-student",
                      "deploy-canary"):
        assert f"exec-{component}" in executors, component
    text = (tmp_path / "distillation_pipeline.yaml").read_text()
    assert "triggerPolicy" in text and "name: release\n" in text
    for branch in ("train-teacher", "existing-teacher", "train-cpt", "existing-cpt", "train-sft", "existing-sft",
                   "train-reward-model", "existing-reward-model"):
        assert f"name: {branch}\n" in text, branch
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    loop = [task for dag in dags for task in dag["tasks"].values() if "parameterIterator" in task]
    assert len(loop) == 1 and loop[0]["parameterIterator"]["items"]["raw"] == "[0, 1, 2, 3]"  # 4 shards (config default)
    for name in ("teacher-cpt", "teacher-sft", "reward-model", "teacher-preference", "annotate-shard", "train-student"):
        container = executors[f"exec-{name}"]["container"]
        assert container["resources"]["accelerator"]["resourceCount"] == "1", name
    assert executors["exec-train-student"]["container"]["image"] == "relevance-distill/trainer:0.1.0"
    assert executors["exec-annotate-shard"]["container"]["image"] == "relevance-distill/annotator:0.1.0"
    for name in ("prepare-data", "use-existing-model", "merge-annotations", "gate"):
        assert "accelerator" not in executors[f"exec-{name}"]["container"].get("resources", {}), name
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert kubernetes["exec-train-student"]["nodeSelector"]["labels"] == {"pool": "gpu"}
    assert kubernetes["exec-train-student"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert set(kubernetes) == set(executors)  # every task gets the cluster settings below
    for executor in kubernetes.values():
        # Hardened pods: the images' non-root user (the backend adds no-privilege-escalation, drop ALL, seccomp).
        assert executor["securityContext"] == {"runAsUser": str(IMAGE_UID), "runAsGroup": str(IMAGE_UID),
                                               "runAsNonRoot": True}
        secret = executor["secretAsEnv"][0]
        assert secret["secretName"] == "relevance-distill-s3"
        assert {item["envVar"] for item in secret["keyToEnv"]} == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert "secretKeyValue" not in text and "testing" not in text  # names only, never values


def test_ab_pipeline_structure(tmp_path):
    compile_all(tmp_path, component_yaml=False)
    spec, platform = yaml.safe_load_all((tmp_path / "ab_analysis_pipeline.yaml").read_text())
    assert {"exec-analyze-ab", "exec-promote-or-rollback"} <= set(spec["deploymentSpec"]["executors"])
    for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        assert executor["securityContext"]["runAsNonRoot"] is True


def test_gpu_settings_that_contradict_each_other_do_not_compile():
    import pytest

    with pytest.raises(ValueError, match="gpu_count=1.*gpu_components"):
        KubernetesConfig(gpu_count=1, gpu_components=["train_student"])
    assert KubernetesConfig(gpu_count=0).annotation_engine() == "transformers"
    assert KubernetesConfig(gpu_count=2).annotation_engine() == "vllm"


def test_components_use_the_image_map():
    for name, component in built_components().items():
        assert component.component_spec.implementation.container.image.endswith(
            f"/{COMPONENT_IMAGES[name]}:0.1.0"), name


def test_annotation_fan_out_is_set_at_compile_time(tmp_path):
    compile_all(tmp_path, KubernetesConfig(annotation_shards=16, annotation_parallelism=4), component_yaml=False)
    text = (tmp_path / "distillation_pipeline.yaml").read_text()
    assert "raw: '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]'" in text
    assert "parallelismLimit: 4" in text


GPU_TASKS = ("teacher-cpt", "teacher-sft", "reward-model", "teacher-preference", "annotate-shard", "train-student")
SEVEN_B_TASKS = ("teacher-cpt", "teacher-sft", "teacher-preference", "annotate-shard")  # each loads the 7B model


def _quantity_bytes(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def test_the_production_pipeline_is_the_same_pipeline_with_gpu_resources_and_is_checked_in(tmp_path):
    from pipelines.compile import compile_cluster_profile
    from relevance_distill.config import (
        DEFAULT_STEP_RESOURCES,
        StepResources,
        cluster_config,
    )
    from relevance_distill.devices import GPUS_ENVIRONMENT

    path = compile_cluster_profile(tmp_path, "production")
    checked_in = ROOT / "pipelines" / "compiled" / "distillation_pipeline.production.yaml"
    assert path.read_text() == checked_in.read_text(), "run `relevance-distill compile --cluster production`"
    spec, platform = yaml.safe_load_all(path.read_text())
    cpu_spec = next(yaml.safe_load_all((ROOT / "pipelines" / "compiled" / "distillation_pipeline.yaml").read_text()))
    assert spec["root"]["dag"] == cpu_spec["root"]["dag"] and set(spec["components"]) == set(cpu_spec["components"])
    assert spec["root"]["inputDefinitions"]["parameters"]["annotation_engine"]["defaultValue"] == "vllm"  # GPUs: vLLM
    executors = spec["deploymentSpec"]["executors"]
    kubernetes = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    cpu_default_memory = _quantity_bytes(StepResources().memory_limit)
    cluster = cluster_config("production")
    for task in GPU_TASKS:
        container = executors[f"exec-{task}"]["container"]
        gpus = int(container["resources"]["accelerator"]["resourceCount"])
        assert gpus >= 1 and container["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu", task
        assert {"name": GPUS_ENVIRONMENT, "value": str(gpus)} in container["env"], task  # fails fast without them
        mounts = kubernetes[f"exec-{task}"]
        assert mounts["emptyDirMounts"][0]["mountPath"] == "/dev/shm" and mounts["emptyDirMounts"][0]["medium"] == "Memory"
        volume = mounts["genericEphemeralVolume"][0]
        assert volume["mountPath"] == "/scratch" and _quantity_bytes(volume["size"]) >= 20 * 2**30, task
        assert {"name": "HF_HOME", "value": "/scratch/huggingface"} in container["env"], task
        assert {"name": "TMPDIR", "value": "/scratch/tmp"} in container["env"], task
        assert container["image"].endswith("-cuda"), task  # CUDA torch (and vLLM): `make images VARIANT=cuda`
    for task in SEVEN_B_TASKS:
        resources = executors[f"exec-{task}"]["container"]["resources"]
        # 15 GB of bf16 weights must fit in host memory while loading: never the CPU default.
        assert _quantity_bytes(resources["resourceMemoryRequest"]) >= 32 * 2**30 > cpu_default_memory, task
        assert _quantity_bytes(resources["resourceMemoryLimit"]) > cpu_default_memory, task
    for task in ("gate", "deploy-canary", "use-existing-model", "evaluate-student"):
        container = executors[f"exec-{task}"]["container"]
        assert "accelerator" not in container["resources"] and not container["image"].endswith("-cuda"), task
    for task in ("gate", "deploy-canary", "use-existing-model"):
        container = executors[f"exec-{task}"]["container"]
        assert container["resources"]["resourceMemoryLimit"] == DEFAULT_STEP_RESOURCES["gate"].memory_limit, task
    # One source: the annotator's tensor parallelism is the GPU count its task requests.
    loop = next(c for name, c in spec["components"].items() if name.startswith("comp-for-loop"))
    shard = next(t for t in loop["dag"]["tasks"].values() if t["componentRef"]["name"] == "comp-annotate-shard")
    tensor_parallel = shard["inputs"]["parameters"]["tensor_parallel_size"]["runtimeValue"]["constant"]
    assert tensor_parallel == int(executors["exec-annotate-shard"]["container"]["resources"]["accelerator"]["resourceCount"])
    assert tensor_parallel == cluster.gpu_count
    four = compile_cluster_profile_with(tmp_path, cluster.model_copy(update={"gpu_count": 4}))
    shard = next(t for t in next(c for n, c in four["components"].items() if n.startswith("comp-for-loop"))["dag"]["tasks"].values()
                 if t["componentRef"]["name"] == "comp-annotate-shard")
    assert shard["inputs"]["parameters"]["tensor_parallel_size"]["runtimeValue"]["constant"] == 4


def compile_cluster_profile_with(tmp_path, cluster):
    from kfp import compiler

    from pipelines.distillation import build_distillation_pipeline

    path = tmp_path / "custom.yaml"
    compiler.Compiler().compile(build_distillation_pipeline(cluster), str(path))
    return next(yaml.safe_load_all(path.read_text()))


def test_a_misspelt_component_in_the_cluster_config_is_refused(tmp_path):
    import pytest

    from relevance_distill.config import StepResources

    with pytest.raises(ValueError, match=r"unknown component\(s\) \['teacher_sfft'\].*'teacher_sft'"):
        compile_all(tmp_path, KubernetesConfig(resources={"teacher_sfft": StepResources()}), component_yaml=False)


def test_the_cpu_pipeline_requests_and_limits_every_step(tmp_path):
    spec = next(yaml.safe_load_all((ROOT / "pipelines" / "compiled" / "distillation_pipeline.yaml").read_text()))
    for name, executor in spec["deploymentSpec"]["executors"].items():
        resources = executor["container"]["resources"]
        assert {"resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest", "resourceMemoryLimit"} <= set(resources), name
        assert "accelerator" not in resources, name


def _tasks(spec):
    return {task["componentRef"]["name"].removeprefix("comp-"): task for component in [spec["root"], *spec["components"].values()]
            if "dag" in component for task in component["dag"]["tasks"].values()}


def test_the_student_keeps_the_checkpoint_best_under_the_decoding_the_gate_checks(tmp_path):
    compile_all(tmp_path, component_yaml=False)
    spec = next(yaml.safe_load_all((tmp_path / "distillation_pipeline.yaml").read_text()))
    tasks = _tasks(spec)
    pipeline_input = {"componentInputParameter": "gate_decoding"}
    assert tasks["gate"]["inputs"]["parameters"]["decoding"] == pipeline_input
    assert tasks["train-student"]["inputs"]["parameters"]["selection_decoding"] == pipeline_input


def test_acting_steps_never_come_from_the_cache_and_transient_failures_are_retried_with_backoff():
    from pipelines.kubernetes import ACTING_STEPS, RETRIED_STEPS, TRAINING_STEPS

    for name in ("distillation_pipeline.yaml", "ab_analysis_pipeline.yaml"):
        spec, platform = yaml.safe_load_all((ROOT / "pipelines" / "compiled" / name).read_text())
        executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for task_name, task in _tasks(spec).items():
            if f"exec-{task_name}" not in spec["deploymentSpec"]["executors"]:
                continue  # a condition or loop group, not a step
            step = task_name.replace("-", "_").rstrip("_0123456789").removesuffix("_")
            acting = step in ACTING_STEPS
            assert task.get("cachingOptions", {}).get("enableCache", False) is (not acting), task_name
            if step in RETRIED_STEPS:
                policy = task["retryPolicy"]
                assert policy["maxRetryCount"] == KubernetesConfig().retries and policy["backoffFactor"] == 2, task_name
            if step in TRAINING_STEPS:
                assert executors[f"exec-{task_name}"]["activeDeadlineSeconds"] == str(KubernetesConfig().training_timeout_seconds), task_name
    assert {"deploy_canary", "promote_or_rollback", "analyze_ab"} <= ACTING_STEPS


def test_the_service_name_and_namespace_are_pipeline_parameters_and_a_gitops_run_without_a_stable_model_is_refused():
    from relevance_distill.pipeline_parameters import submit_problem

    text = (ROOT / "pipelines" / "compiled" / "distillation_pipeline.yaml").read_text()
    parameters = next(yaml.safe_load_all(text))["root"]["inputDefinitions"]["parameters"]
    assert parameters["service_name"]["defaultValue"] == "relevance" and "namespace" in parameters
    ab = next(yaml.safe_load_all((ROOT / "pipelines" / "compiled" / "ab_analysis_pipeline.yaml").read_text()))
    assert {"service_name", "namespace"} <= set(ab["root"]["inputDefinitions"]["parameters"])
    problem = submit_problem(text, {"labeled_uri": "s3://b/l.jsonl", "artifacts_uri": "s3://b/r"})
    assert problem and "stable_model_uri" in problem and '"deploy_mode": "apply"' in problem
    assert submit_problem(text, {"stable_model_uri": "s3://b/models/relevance/v1"}) is None
    assert submit_problem(text, {"deploy_mode": "apply"}) is None
