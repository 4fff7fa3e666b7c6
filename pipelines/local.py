"""The main job: the same pipeline functions under ``kfp.local.SubprocessRunner``, artifacts in (embedded) S3.

This module only wires: it generates the built-in data, runs ``distillation_pipeline`` and reads what it returns
(kfp.local's own outputs, never its folders), exports the stable model and replays the students' test-set
scores as A/B traffic through library functions, then runs ``ab_analysis_pipeline`` on that log.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import kfp.local

from components.images import COMPONENT_IMAGES, IMAGE_EXTRAS, image
from pipelines.ab_analysis import build_ab_analysis_pipeline
from pipelines.distillation import build_distillation_pipeline
from relevance_distill import layout, storage
from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.builtin_world.plugin import PLUGIN as BUILTIN_WORLD
from relevance_distill.config import KubernetesConfig, RunConfig
from relevance_distill.data.prepare import InputDataError
from relevance_distill.data.readers import read_models, write_jsonl
from relevance_distill.evaluation.evaluate import (
    read_prediction_scores,
    training_record,
)
from relevance_distill.evaluation.retention import published_evaluation
from relevance_distill.export import ExportConfig, export_evaluated
from relevance_distill.layout import model_uri
from relevance_distill.pipeline_parameters import (
    gold_only_loss_parameter,
    teacher_gain_parameter,
)
from relevance_distill.progress import INTERVAL_ENVIRONMENT, clock
from relevance_distill.rollout.isvc import InferenceServiceConfig
from relevance_distill.rollout.simulate import replay_scores
from relevance_distill.schemas import QueryServicePair
from relevance_distill.teacher.stages import sft_gave_up

MODEL_NAME = InferenceServiceConfig().name
# No cluster to patch here: the canary and the A/B outcome are written as GitOps overlays.
LOCAL_DEPLOY_MODE = "gitops"
# What a component container may know of the storage: the endpoint and credentials, passed as environment (never
# baked into an image), as a Kubernetes Secret reference passes them on a cluster; and how often to report progress.
# What the summary says of each student's training: how long it trained, its best dev step and why it stopped.
TRAINING_FIGURES = ("epochs", "steps", "best_step", "selection_decoding", "best_dev_macro_f1", "stop_reason", "seconds")
CONTAINER_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                         "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", INTERVAL_ENVIRONMENT)


def _runner(name: str) -> kfp.local.SubprocessRunner | kfp.local.DockerRunner:
    if name == "subprocess":
        return kfp.local.SubprocessRunner(use_venv=False)
    # Host network: the embedded S3 listens on loopback. The image's entrypoint is reset because kfp.local hands
    # the component command over as arguments (on a cluster, Kubeflow sets the container command instead).
    return kfp.local.DockerRunner(network_mode="host", entrypoint=[""],
                                  environment={key: os.environ[key] for key in CONTAINER_ENVIRONMENT if key in os.environ})


@contextlib.contextmanager
def _shared_pipeline_root(runner: str, pipeline_root: Path) -> Iterator[None]:
    """Containers run as the images' non-root user and write into the host's pipeline root (bind-mounted), so
    the root and the folders the orchestrator creates there must be writable by them."""
    pipeline_root.mkdir(parents=True, exist_ok=True)
    if runner != "docker":
        yield
        return
    pipeline_root.chmod(0o777)
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def image_ids() -> dict[str, str | None]:
    """The local image ID of each of our images (None where it is not built here; the components' images are)."""
    import docker

    client = docker.from_env()
    try:
        ids = {}
        for name in sorted(IMAGE_EXTRAS):
            try:
                ids[name] = client.images.get(image(name)).id
            except docker.errors.ImageNotFound:
                if name in COMPONENT_IMAGES.values():
                    raise
                ids[name] = None
        return ids
    finally:
        client.close()


class _Stages:
    """Times each stage of the main job and says it as it ends, in the shape of the task lines."""

    def __init__(self, say: Callable[[str], None]):
        self.done: list[dict[str, Any]] = []
        self.say = say
        self.started = time.monotonic()

    def end(self, name: str, result: str) -> None:
        self.done.append({"stage": name, "result": result, "seconds": round(time.monotonic() - self.started, 1)})
        self.say(f"  {'ok':>7} {name} ({clock(self.done[-1]['seconds'])})  {result}")
        self.started = time.monotonic()


def _stage_inputs(config: RunConfig, workdir: Path, root: str, stages: _Stages) -> dict[str, str]:
    """The run's input URIs in its S3 root, where every component (subprocess or container) reads them: the
    generated built-in data, or the user's files (local files are uploaded once, s3:// URIs used in place)."""
    if config.inputs.builtin:
        generated = generate_dataset(config.data, workdir / "data" / "builtin")
        storage.publish_dir(workdir / "data" / "builtin", layout.under(root, layout.RAW), metadata={"stage": "generate"})
        stages.end("generate_data", f"{generated['counts']['labeled_pairs']} labelled pairs")
        return {"labeled_uri": layout.under(root, layout.RAW, "labeled.jsonl"), "corpus_uri": layout.under(root, layout.RAW, "corpus.jsonl"),
                "unlabeled_uri": layout.under(root, layout.RAW, "search_logs.jsonl"), "test_uri": "", "products_uri": ""}
    staged: dict[str, str] = {}
    for key, uri in config.inputs.model_dump().items():
        if not uri or storage.is_s3(uri):
            staged[key] = uri
            continue
        path = Path(uri).expanduser()
        if not path.is_file():
            raise InputDataError(f"{key.removesuffix('_uri')} file {uri!r} does not exist")
        staged[key] = layout.under(root, layout.INPUTS, key.removesuffix("_uri"), path.name)
        storage.upload_file(path, staged[key])
    stages.end("stage_inputs", f"{sum(bool(uri) for uri in staged.values())} input files "
                               f"({config.prepare.input_format}, label scheme {config.prepare.resolved_label_scheme().name})")
    return staged


def _data_summary(config: RunConfig, inputs: dict[str, str], validation: dict[str, Any]) -> dict[str, Any]:
    """Rows in / kept / quarantined and what happened to the test set and the logs, for the summary."""
    return {"source": "built-in" if config.inputs.builtin else config.inputs.labeled_uri,
            "format": config.prepare.input_format, "label_scheme": config.prepare.resolved_label_scheme().name,
            "rows_in": validation["rows_in"], "kept": validation["kept"], "quarantined": validation["quarantined"],
            "quarantine_reasons": validation["reasons"], "test_query_leaks_removed": validation["test_query_leaks_removed"],
            # The user's own paths rather than the copies the run staged in its S3 root.
            "test": {**validation["test"], "source": config.inputs.test_uri or validation["test"]["source"]},
            "unlabeled": {**validation["unlabeled"], "source": config.inputs.unlabeled_uri or validation["unlabeled"]["source"]},
            "corpus": inputs["corpus_uri"] or "the pairs' text"}


def _test_figures(evaluated: dict[str, Any], method: str) -> dict[str, Any]:
    """A student's test figures in the run summary: ``macro_f1``, ``qwk`` and ``ci`` (argmax), and each ordinal figure
    of the evaluation summary as ``ordinal_<name>`` (``ordinal_macro_f1``, ``ordinal_qwk``, ``ordinal_ci``)."""
    figures = {"macro_f1": evaluated["macro_f1"][method], "qwk": evaluated["qwk"][method]}
    if method in evaluated.get("ci", {}):
        figures["ci"] = evaluated["ci"][method]
    figures.update({f"ordinal_{name}": value for name, value in evaluated.get("ordinal", {}).get(method, {}).items()})
    return figures


def teacher_steps(root: str) -> dict[str, dict[str, Any]]:
    """What each teacher step of the run under ROOT published (its model URI and files), or why it trained nothing
    (the reward model after an SFT that gave up, ``teacher.stages.sft_gave_up``)."""
    gave_up = sft_gave_up(layout.teacher_model_uri(root, "sft"))
    steps: dict[str, dict[str, Any]] = {}
    for step, directory in layout.TEACHER_STEP_DIRS.items():
        uri = layout.teacher_model_uri(root, step)
        if step == "reward" and gave_up:
            steps[directory] = {"skipped": gave_up}
        else:
            steps[directory] = {"model_uri": uri, "files": sorted(storage.read_manifest(uri).files)}
    return steps


def run_local(config: RunConfig, workdir: Path, run_id: str, say: Callable[[str], None] = print) -> dict[str, Any]:
    # The local runner warns that images and display names are ignored outside a cluster: expected here.
    warnings.filterwarnings("ignore", message=".*custom or non-Python base image.*")
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
    root = storage.join(config.storage.root_uri, "runs", run_id)
    storage.ensure_bucket(root)
    scheme = config.prepare.resolved_label_scheme()
    version, stable_version = f"v{run_id}", f"v{run_id}-{config.ab_stable_method}"
    stable_uri = model_uri(root, MODEL_NAME, stable_version)
    stages = _Stages(say)

    inputs = _stage_inputs(config, workdir, root, stages)

    pipeline_root = workdir / "kfp"
    kfp.local.init(runner=_runner(config.runner), pipeline_root=str(pipeline_root), raise_on_error=True)
    annotation = config.annotation
    # kfp.local would run every shard at once: two torch processes on 2 cores oversubscribe them (measured: 400
    # pairs took 100 s in two concurrent shards, the same generation in one process 19 s).
    distillation = build_distillation_pipeline(KubernetesConfig(annotation_parallelism=1), local=True,
                                               annotation_shards=annotation.shards)
    # The built-in data names its dataset plugin (its chain grammar, for augmentation and the reward's faithfulness);
    # a user's data gets the plain-text default.
    plugin_json = json.dumps({"dataset_plugin": BUILTIN_WORLD.name}) if config.inputs.builtin else "{}"
    with _shared_pipeline_root(config.runner, pipeline_root):
        outputs = distillation(
            labeled_uri=inputs["labeled_uri"], artifacts_uri=root, model_version=version,
            corpus_uri=inputs["corpus_uri"], unlabeled_uri=inputs["unlabeled_uri"],
            labeled_test_uri=inputs["test_uri"], products_uri=inputs["products_uri"], gate_decoding=config.gate.decoding,
            sft_config_json=plugin_json, reward_config_json=plugin_json,
            teacher_model_uri=config.teacher.model_uri, teacher_profile=config.teacher_profile(),
            teacher_eval_pairs=config.teacher.eval_pairs,
            teacher_min_gain_over_majority=teacher_gain_parameter(config.teacher.min_gain_over_majority),
            annotation_engine=annotation.engine,
            annotation_samples=annotation.samples, annotation_temperature=annotation.temperature,
            annotation_max_new_tokens=annotation.max_new_tokens, annotation_max_pairs=annotation.max_pairs,
            stable_model_uri=stable_uri, label_scheme=scheme.name, input_format=config.prepare.input_format,
            split_strategy=config.prepare.split_strategy, split_fractions_json=json.dumps(config.prepare.split_fractions),
            split_seed=config.prepare.seed, student_profile=config.active_student_profile(), student_config_json=json.dumps(config.student),
            student_methods=",".join(config.student_methods), min_macro_f1=config.gate.min_macro_f1,
            min_retention=config.gate.min_retention, max_regression=config.gate.max_regression,
            max_loss_to_gold_only=gold_only_loss_parameter(config.gate.max_loss_to_gold_only),
            when_worse_than_gold_only=config.gate.when_worse_than_gold_only,
            latency_requests=config.evaluation.latency_requests, deploy_mode=LOCAL_DEPLOY_MODE,
            canary_traffic_percent=config.canary_traffic_percent).outputs
    stages.end("distillation_pipeline", f"gate {'passed' if outputs['gate_passed'] else 'FAILED'}")

    evaluation = Path(outputs["evaluation"].path)
    evaluated = json.loads((evaluation / layout.EVALUATION_SUMMARY).read_text(encoding="utf-8"))
    gate = json.loads(Path(outputs["gate_decision"].path).read_text(encoding="utf-8"))
    teacher_uri = config.teacher.model_uri or layout.teacher_model_uri(root, "preference")
    teacher_eval = published_evaluation(teacher_uri) or {}
    teacher_decision = json.loads(outputs["teacher_decision"])
    annotations = (json.loads(storage.read_text(storage.join(layout.merged_annotations_uri(root), layout.STATS_FILE)))
                   if teacher_decision["distil"] else None)
    training = training_record(outputs["models"].path)
    validation = json.loads(storage.read_text(storage.join(layout.prepared_uri(root), layout.VALIDATION_FILE)))
    result: dict[str, Any] = {
        "run_id": run_id, "profile": config.profile, "runner": config.runner, "artifacts_uri": root,
        "teacher": {"model_uri": teacher_uri, "macro_f1": teacher_eval.get("macro_f1"),
                    "majority_macro_f1": teacher_eval.get("majority_macro_f1"),
                    "after_sft_macro_f1": teacher_eval.get("after_sft", {}).get("macro_f1"),
                    "test_pairs": teacher_eval.get("test_pairs"), "decision": teacher_decision},
        "data": _data_summary(config, inputs, validation),
        "annotation": ({key: annotations[key] for key in ("rows_in", "annotated", "quarantined", "labels", "shards")}
                       if annotations else {"skipped": teacher_decision["reason"]}),
        "students": {method: {**_test_figures(evaluated, method),
                              "training": {key: training[method][key] for key in TRAINING_FIGURES}}
                     for method in evaluated["macro_f1"]},
        "test_set_sha256": evaluated["test_set_sha256"], "gate_decoding": gate.get("decoding", config.gate.decoding),
        # The gold-only student alone learnt nothing from the teacher: a ratio of the two would mean nothing.
        "retention": evaluated["retention"] if teacher_decision["distil"] else None,
        "teacher_vs_gold_only": evaluated.get("teacher_vs_gold_only"),
        "gate": gate, "model_uri": None,
        "report": str(evaluation / "report.html"), "stages": stages.done,
    }
    if config.runner == "docker":
        result["images"] = image_ids()
    result["teacher"]["qwk"] = teacher_eval.get("after_dpo", {}).get("qwk")
    if not config.teacher.model_uri:
        result["teacher"]["rationales"] = json.loads(storage.read_text(
            storage.join(layout.teacher_model_uri(root, "sft"), layout.METRICS_FILE))).get("rationales")
        result["teacher"]["steps"] = teacher_steps(root)
        # A local copy (with its manifest) that a later run can reuse: --teacher-model-uri WORKDIR/teacher.
        result["teacher"]["local_copy"] = str(storage.fetch_dir(teacher_uri, workdir / "teacher"))
    if not outputs["gate_passed"]:
        stages.end("gate", "FAILED: " + "; ".join(gate["reasons"]))
        return result
    result["model_uri"] = model_uri(root, MODEL_NAME, version)
    storage.fetch_dir(result["model_uri"], workdir / "model")
    result["gitops_manifests"] = str(storage.fetch_dir(layout.rollout_uri(root), workdir / "rollout"))

    prepared = storage.fetch_dir(layout.prepared_uri(root), workdir / "prepared")
    if config.ab_stable_method not in training:
        # The gold-only branch trained one student: there is no stable model to replay the canary against.
        result["ab"] = {"skipped": f"the stable model ({config.ab_stable_method}) was not trained: "
                                   f"{teacher_decision['reason']}"}
        stages.end("ab_analysis_pipeline", "skipped: only the gold-only student was trained")
        return result
    export_evaluated(outputs["models"].path, evaluation, root, scheme, MODEL_NAME, stable_version,
                     ExportConfig(onnx=False, bfloat16=False, openvino_int8=False), method=config.ab_stable_method)
    events_uri = layout.ab_events_uri(root)
    rows = replay_scores(read_models(str(prepared / layout.TEST_FILE), QueryServicePair), scheme.names,
                         read_prediction_scores(evaluation, config.ab_stable_method),
                         read_prediction_scores(evaluation, gate["published_method"]), config.ab_users,
                         config.canary_traffic_percent / 100, config.data.seed,
                         (config.ab_stable_method, gate["published_method"]))
    write_jsonl(events_uri, rows)
    with _shared_pipeline_root(config.runner, pipeline_root):
        ab = build_ab_analysis_pipeline(local=True)(
            events_uri=events_uri, expected_split=config.canary_traffic_percent / 100, deploy_mode=LOCAL_DEPLOY_MODE,
            rollout_uri=layout.rollout_uri(root)).outputs
    decision = json.loads((Path(ab["analysis"].path) / "decision.json").read_text(encoding="utf-8"))
    stages.end("ab_analysis_pipeline", f"{config.ab_users} simulated users: {decision['decision']}")
    result.update({"stable_model_uri": stable_uri,
                   "ab": {"decision": decision["decision"], "action": ab["action"], "reasons": decision["reasons"],
                          "ctr_lift": decision["ctr"]["lift"], "ctr_sequential_p_value": decision["ctr"]["sequential_p_value"]}})
    return result
