"""The main job: the same pipeline functions under ``kfp.local.SubprocessRunner``, artifacts in (embedded) S3.

``run_local`` generates the built-in data, runs ``distillation_pipeline`` (prepare → teacher CPT → SFT, reward
model → DPO → annotation of the search-log pairs in shards → merge → train CRSD and the baselines → evaluate →
gate → export → canary in GitOps mode), keeps a local copy of the published model,
exports the vanilla student as the "stable" model, replays the two students' test-set scores through the
traffic simulator and runs ``ab_analysis_pipeline`` on the resulting impression log.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import kfp.local

from pipelines.ab_analysis import build_ab_analysis_pipeline
from pipelines.distillation import build_distillation_pipeline
from relevance_distill import storage
from relevance_distill.config import KubernetesConfig, RunConfig
from relevance_distill.data.generate import generate_dataset
from relevance_distill.data.readers import iter_jsonl, read_models, write_jsonl
from relevance_distill.export import export_student, model_uri
from relevance_distill.rollout.simulate import QueryPool, events_to_rows, simulate
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.stages import published_evaluation

PROFILE_SETTINGS = {
    "smoke": {"methods": "crsd,vanilla,logit_kd", "ab_users": 4000, "latency_requests": 5,
              "annotation": {"shards": 2, "samples": 2, "max_new_tokens": 128, "max_pairs": 40}},
    "demo": {"methods": "crsd,vanilla,logit_kd", "ab_users": 20000, "latency_requests": 15,
             "annotation": {"shards": 2, "samples": 3, "max_new_tokens": 128, "max_pairs": 400}},
}


def _stage(stages: list[dict[str, Any]], name: str, started: float, result: str) -> None:
    stages.append({"stage": name, "result": result, "seconds": round(time.monotonic() - started, 1)})


def run_local(config: RunConfig, workdir: Path, run_id: str, on_stage: Callable[[dict[str, Any]], None] = print) -> dict[str, Any]:
    # The local runner warns that images and display names are ignored outside a cluster: expected here.
    warnings.filterwarnings("ignore", message=".*custom or non-Python base image.*")
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
    settings = PROFILE_SETTINGS[config.profile]
    root = storage.join(config.storage.root_uri, "runs", run_id)
    storage.ensure_bucket(root)
    scheme_name = config.prepare.label_scheme if isinstance(config.prepare.label_scheme, str) else config.prepare.label_scheme.name
    scheme = get_label_scheme(scheme_name)
    stages: list[dict[str, Any]] = []
    version = f"v{run_id}"
    stable_version = f"{version}-vanilla"
    stable_uri = model_uri(root, "relevance", stable_version)

    began = time.monotonic()
    generated = generate_dataset(config.data, workdir / "data" / "builtin")
    storage.publish_dir(workdir / "data" / "builtin", storage.join(root, "raw"), metadata={"stage": "generate"})
    _stage(stages, "generate_data", began, f"{generated['counts']['labeled_pairs']} labelled pairs")
    on_stage(stages[-1])

    began = time.monotonic()
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(workdir / "kfp"),
                   raise_on_error=True)
    annotation = {**settings["annotation"], **config.annotation.model_dump(exclude_none=True)}
    # kfp.local runs every shard at once on this machine: two torch processes on 2 cores oversubscribe it
    # (measured: 400 pairs took 100 s in two concurrent shards; the same generation in one process 19 s).
    distillation = build_distillation_pipeline(KubernetesConfig(annotation_parallelism=1), local=True,
                                               annotation_shards=annotation["shards"])
    distillation(labeled_uri=storage.join(root, "raw", "labeled.jsonl"), artifacts_uri=root, model_version=version,
                 corpus_uri=storage.join(root, "raw", "corpus.jsonl"),
                 unlabeled_uri=storage.join(root, "raw", "search_logs.jsonl"),
                 teacher_model_uri=config.teacher.model_uri, teacher_profile=config.teacher.profile or config.profile,
                 teacher_eval_pairs=config.teacher.eval_pairs, annotation_engine=annotation["engine"],
                 annotation_samples=annotation["samples"], annotation_temperature=annotation["temperature"],
                 annotation_max_new_tokens=annotation["max_new_tokens"], annotation_max_pairs=annotation["max_pairs"],
                 stable_model_uri=stable_uri, label_scheme=scheme_name, student_profile=config.profile,
                 student_methods=settings["methods"], min_macro_f1=config.gate.min_macro_f1,
                 min_retention=config.gate.min_retention or 0.0, max_length=_max_length(config.profile),
                 latency_requests=settings["latency_requests"],
                 deploy_mode="gitops")
    _stage(stages, "distillation_pipeline", began, "prepare → teacher (CPT, SFT, reward model, DPO) → annotate "
           f"({annotation['shards']} shards) → merge → train → evaluate → gate → export → deploy canary")
    on_stage(stages[-1])

    evaluation = storage.fetch_dir(storage.join(root, "evaluation"), workdir / "evaluation")
    summary_eval = json.loads((evaluation / "summary.json").read_text(encoding="utf-8"))
    primary_metrics = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    gate = json.loads(_latest_artifact(workdir / "kfp", "gate", "decision").read_text(encoding="utf-8"))
    published = model_uri(root, "relevance", version)
    teacher_uri = config.teacher.model_uri or storage.join(root, "teacher", "dpo", "model")
    teacher_eval = published_evaluation(teacher_uri) or {}
    annotations = json.loads(storage.read_text(storage.join(root, "annotations", "merged", "stats.json")))
    result: dict[str, Any] = {
        "run_id": run_id, "profile": config.profile, "artifacts_uri": root,
        "teacher": {"model_uri": teacher_uri, "macro_f1": teacher_eval.get("macro_f1"),
                    "majority_macro_f1": teacher_eval.get("majority_macro_f1"),
                    "after_sft_macro_f1": teacher_eval.get("after_sft", {}).get("macro_f1"),
                    "test_pairs": teacher_eval.get("test_pairs")},
        "annotation": {key: annotations[key] for key in ("rows_in", "annotated", "quarantined", "labels", "shards")},
        "students": {m: {"macro_f1": f1} for m, f1 in summary_eval["macro_f1"].items()},
        "retention": primary_metrics.get("retention"), "gate": gate, "model_uri": None,
        "report": str(evaluation / "report.html"),
    }
    if not config.teacher.model_uri:
        result["teacher"]["steps"] = {
            step: {"model_uri": uri, "files": sorted(storage.read_manifest(uri).files)}
            for step in ("cpt", "sft", "reward", "dpo") for uri in [storage.join(root, "teacher", step, "model")]}
        # A local copy (with its manifest) that a later run can reuse: --teacher-model-uri WORKDIR/teacher.
        result["teacher"]["local_copy"] = str(storage.fetch_dir(teacher_uri, workdir / "teacher"))
    if not gate["passed"]:
        _stage(stages, "gate", began, "FAILED: " + "; ".join(gate["reasons"]))
        result["stages"] = stages
        return result
    result["model_uri"] = published
    storage.fetch_dir(published, workdir / "model")

    began = time.monotonic()
    models_dir = _local_models_artifact(workdir / "kfp")
    export_student(models_dir / "vanilla" / "best", root, scheme, "relevance", stable_version,
                   json.loads((evaluation / "metrics" / "vanilla.json").read_text()), _max_length(config.profile), "vanilla")
    events_uri = storage.join(root, "ab", "events.jsonl")
    users = _simulate_ab(root, workdir, evaluation, events_uri, settings["ab_users"], config)
    ab = build_ab_analysis_pipeline(local=True)
    ab(events_uri=events_uri, expected_split=config.canary_traffic_percent / 100, mode="gitops",
       rollout_uri=storage.join(root, "rollout"))
    decision = json.loads((_latest_artifact(workdir / "kfp", "analyze-ab", "decision") / "decision.json").read_text())
    _stage(stages, "ab_analysis_pipeline", began, f"{users} simulated users: {decision['decision']}")
    on_stage(stages[-1])
    result.update({"stable_model_uri": stable_uri, "ab": {"decision": decision["decision"], "reasons": decision["reasons"],
                                                          "ctr_lift": decision["ctr"]["lift"],
                                                          "ctr_sequential_p_value": decision["ctr"]["sequential_p_value"]},
                   "gitops_manifests": str(_latest_artifact(workdir / "kfp", "deploy-canary", "rollout")),
                   "stages": stages})
    return result


def _max_length(profile: str) -> int:
    from relevance_distill.config import STUDENT_PROFILES

    return STUDENT_PROFILES[profile]["max_length"]


def _latest_artifact(pipeline_root: Path, task: str, output: str) -> Path:
    candidates = sorted(pipeline_root.glob(f"*/{task}/{output}"), key=lambda path: path.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"no {task}/{output} artifact under {pipeline_root}")
    return candidates[-1]


def _local_models_artifact(pipeline_root: Path) -> Path:
    return _latest_artifact(pipeline_root, "train-student", "models")


def _simulate_ab(root: str, workdir: Path, evaluation: Path, events_uri: str, users: int, config: RunConfig) -> int:
    """Replay the students' test-set scores: CRSD as canary, vanilla as stable, true relevance from gold labels."""
    scores = {method: {row["pair_id"]: row["score"] for _, row in iter_jsonl(str(evaluation / "predictions" / f"{method}.jsonl"))}
              for method in ("crsd", "vanilla")}
    prepared = storage.fetch_dir(storage.join(root, "prepared"), workdir / "prepared")
    test_pairs = read_models(str(prepared / "test.jsonl"), QueryServicePair)
    grade_of = {name: i for i, name in enumerate(get_label_scheme("local_services").names)}
    pool = QueryPool.from_pairs(test_pairs, grade_of, seed=config.data.seed, stable_scores=scores["vanilla"],
                                canary_scores=scores["crsd"])
    events, context = simulate(pool, users, split=config.canary_traffic_percent / 100, seed=config.data.seed)
    write_jsonl(events_uri, events_to_rows(events, context, pool, ("vanilla", "crsd")))
    return users
