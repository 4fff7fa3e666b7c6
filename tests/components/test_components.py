"""Each component called through .python_func (the code the container runs), on local files and embedded S3."""

from __future__ import annotations

import json

import pytest
from kfp import dsl

from components.analyze_ab.component import analyze_ab
from components.deploy_canary.component import deploy_canary
from components.evaluate_student.component import evaluate_student
from components.export_student.component import export_student
from components.gate.component import gate
from components.prepare_data.component import prepare_data
from components.promote_or_rollback.component import promote_or_rollback
from components.train_student.component import train_student
from relevance_distill import storage
from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import PRIMARY_STUDENT_METHOD, DataGenerationConfig


def artifact(kind, path):
    return kind(name=path.name, uri=str(path), metadata={})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, s3_server):
    directory = tmp_path_factory.mktemp("components")
    generate_dataset(DataGenerationConfig(num_services=100, num_queries=50, num_log_pairs=0, corpus_documents=0, seed=5), directory / "raw")
    storage.ensure_bucket("s3://components")
    storage.upload_file(directory / "raw" / "labeled.jsonl", "s3://components/raw/labeled.jsonl")
    validation = artifact(dsl.Metrics, directory / "validation")
    summary = artifact(dsl.Artifact, directory / "prepared.json")
    outputs = prepare_data.python_func(input_uri="s3://components/raw/labeled.jsonl", output_uri="s3://components/prepared",
                                       validation=validation, prepared=summary)
    return directory, outputs, validation


def test_prepare_data(prepared):
    directory, outputs, validation = prepared
    assert outputs.train_uri == "s3://components/prepared/train.jsonl"
    # No search logs: the teacher annotates the training pairs (the same rows, published as unlabeled.jsonl).
    assert outputs.unlabeled_uri == "s3://components/prepared/unlabeled.jsonl"
    assert storage.read_text(outputs.unlabeled_uri) == storage.read_text(outputs.train_uri)
    assert validation.metadata["unlabeled_pairs"] > 0 and validation.metadata["test_query_leaks_removed"] == 0
    assert validation.metadata["rows_in"] == validation.metadata["kept"] + validation.metadata["quarantined"] == 400
    assert storage.read_manifest("s3://components/prepared").files


def test_train_evaluate_gate_export_deploy(prepared, tmp_path):
    _, outputs, _ = prepared
    models = artifact(dsl.Model, tmp_path / "models")
    training = artifact(dsl.Metrics, tmp_path / "training")
    train_student.python_func(train_uri=outputs.train_uri, dev_uri=outputs.dev_uri, models=models, training=training,
                              methods="crsd,vanilla", profile="smoke", config_json=json.dumps({"max_steps": 3}))
    assert {"crsd_best_dev_macro_f1", "vanilla_best_dev_macro_f1"} <= set(training.metadata)
    metrics, confusion = artifact(dsl.Metrics, tmp_path / "metrics"), artifact(dsl.ClassificationMetrics, tmp_path / "cm")
    report, evaluation = artifact(dsl.HTML, tmp_path / "report.html"), artifact(dsl.Artifact, tmp_path / "evaluation")
    evaluate_student.python_func(models=models, test_uri=outputs.test_uri, metrics=metrics, confusion=confusion, report=report,
                                 evaluation=evaluation, latency_requests=2, publish_uri="s3://components/evaluation",
                                 dev_uri=outputs.dev_uri)
    assert 0 <= metrics.metadata["macro_f1"] <= 1 and "vanilla_macro_f1" in metrics.metadata
    assert metrics.metadata["macro_f1_ci_low"] <= metrics.metadata["macro_f1"] <= metrics.metadata["macro_f1_ci_high"]
    assert confusion.metadata["confusionMatrix"]["annotationSpecs"][0]["displayName"] == "irrelevant"
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    assert storage.read_manifest("s3://components/evaluation").files

    decision = artifact(dsl.Artifact, tmp_path / "gate.json")
    # No teacher figure here: the default min_retention (0.8) cannot be checked, so it fails the candidate.
    assert gate.python_func(evaluation=evaluation, decision=decision, min_macro_f1=0.0) is False
    assert gate.python_func(evaluation=evaluation, decision=decision, min_macro_f1=0.0, min_retention=0.0) is True
    published = json.loads((tmp_path / "gate.json").read_text())["published_method"]
    assert published == "crsd"  # no gold-only student to compare with: the primary (first trained) method
    assert gate.python_func(evaluation=evaluation, decision=decision, min_macro_f1=0.99) is False
    assert json.loads((tmp_path / "gate.json").read_text())["passed"] is False

    assert not (tmp_path / "evaluation" / "gate.json").exists()  # the gate step alone decides
    approved = artifact(dsl.Artifact, tmp_path / "approved.json")
    (tmp_path / "approved.json").write_text(json.dumps({"passed": True, "published_method": "vanilla"}))
    uri = export_student.python_func(models=models, evaluation=evaluation, output_root_uri="s3://components", version="c1",
                                     onnx=False, test_uri=outputs.test_uri, calibration_uri=outputs.dev_uri,
                                     gate_decision=approved)
    # The export ships what the gate published (here a decision naming vanilla), not the evaluation's primary.
    assert json.loads(storage.read_text(f"{uri}/relevance_distill.json"))["method"] == "vanilla"
    assert uri == "s3://components/models/relevance/c1" and "model.safetensors" in storage.read_manifest(uri).files
    info = json.loads(storage.read_text(f"{uri}/relevance_distill.json"))
    assert info["backends"]["openvino_int8"]["gate"]["test_pairs"] > 0  # the test split reached the accuracy gate
    assert info["backends"]["openvino_int8"]["calibration_pairs"] > 0  # and the dev split calibrated the INT8 IR

    rollout = artifact(dsl.Artifact, tmp_path / "rollout")
    published = deploy_canary.python_func(model_uri=uri, model_version="c1", rollout=rollout, mode="gitops",
                                          stable_model_uri="s3://components/models/relevance/c0",
                                          publish_uri="s3://components/rollout")
    assert published == "s3://components/rollout"
    canary = json.loads((tmp_path / "rollout" / "canary.json").read_text())
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10

    result = artifact(dsl.Artifact, tmp_path / "result")
    assert promote_or_rollback.python_func(decision="rollback", result=result, mode="gitops", rollout_uri=published) == "gitops"
    # Rolled back: the canary overlay keeps the previous model at 0 %, so a sync never routes to the rolled-back one.
    outcome = json.loads((tmp_path / "result" / "outcome.json").read_text())
    assert outcome["resource"]["spec"]["predictor"]["model"]["storageUri"] == "s3://components/models/relevance/c0"
    assert outcome["resource"]["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert "canary-storage-uri.yaml" in {f.name for f in (tmp_path / "result" / "overlays" / "canary").iterdir()}
    assert promote_or_rollback.python_func(decision="continue", result=artifact(dsl.Artifact, tmp_path / "r2"), mode="gitops",
                                           rollout_uri=published) == "none"


def test_analyze_ab(tmp_path):
    from typer.testing import CliRunner

    from relevance_distill.cli import app

    events = tmp_path / "events.jsonl"
    assert CliRunner().invoke(app, ["abtest", "simulate", "--users", "2000", "--split", "0.1", "--out", str(events)]).exit_code == 0
    decision, report, metrics = (artifact(dsl.Artifact, tmp_path / "decision"), artifact(dsl.HTML, tmp_path / "r.html"),
                                 artifact(dsl.Metrics, tmp_path / "m"))
    outcome = analyze_ab.python_func(events_uri=str(events), decision=decision, report=report, metrics=metrics, expected_split=0.1)
    assert outcome in {"promote", "continue", "rollback"}
    assert json.loads((tmp_path / "decision" / "decision.json").read_text())["decision"] == outcome
    assert "srm_p_value" in metrics.metadata


def test_teacher_and_annotation_components(prepared, tmp_path):
    """CPT → SFT → reward model on the SFT model (fetched from S3) → DPO (with evaluation) → existing-model check → two annotation shards → merge,
    each through the function its container runs, models published to S3."""
    from components.annotate_shard.component import annotate_shard
    from components.merge_annotations.component import merge_annotations
    from components.reward_model.component import reward_model
    from components.teacher_cpt.component import teacher_cpt
    from components.teacher_preference.component import teacher_preference
    from components.teacher_sft.component import teacher_sft
    from components.use_existing_model.component import use_existing_model

    directory, outputs, _ = prepared
    generate_dataset(DataGenerationConfig(num_services=100, num_queries=20, num_log_pairs=30, corpus_documents=40, seed=6),
                     tmp_path / "raw")
    storage.upload_file(tmp_path / "raw" / "corpus.jsonl", "s3://components/raw/corpus.jsonl")
    storage.upload_file(tmp_path / "raw" / "search_logs.jsonl", "s3://components/raw/logs.jsonl")
    metrics = lambda name: artifact(dsl.Metrics, tmp_path / name)  # noqa: E731

    cpt = teacher_cpt.python_func(corpus_uri="s3://components/raw/corpus.jsonl", output_uri="s3://components/teacher/cpt",
                                  training=metrics("cpt"), train_uri=outputs.train_uri, profile="smoke",
                                  config_json=json.dumps({"max_steps": 2}))
    assert cpt == "s3://components/teacher/cpt/model" and "model.safetensors" in storage.read_manifest(cpt).files
    sft_metrics = metrics("sft")
    sft = teacher_sft.python_func(train_uri=outputs.train_uri, init_model_uri=cpt, output_uri="s3://components/teacher/sft",
                                  training=sft_metrics, profile="smoke")
    assert sft_metrics.metadata["examples"] > 0 and sft_metrics.metadata["final_loss"] > 0
    reward_metrics = metrics("reward")
    reward = reward_model.python_func(train_uri=outputs.train_uri, output_uri="s3://components/teacher/reward",
                                      training=reward_metrics, profile="smoke", sft_model_uri=sft)
    assert {"held_out_accuracy_faithfulness", "held_out_accuracy_consistency"} <= set(reward_metrics.metadata)
    teacher_metrics, pairs = metrics("teacher"), artifact(dsl.Dataset, tmp_path / "pairs.jsonl")
    teacher = teacher_preference.python_func(
        sft_model_uri=sft, reward_model_uri=reward, train_uri=outputs.train_uri, output_uri="s3://components/teacher/dpo",
        training=metrics("dpo"), teacher_metrics=teacher_metrics, preference_pairs=pairs, test_uri=outputs.test_uri,
        eval_pairs=8, profile="smoke", config_json=json.dumps({"max_steps": 2, "max_prompts": 8}))
    assert 0 <= teacher_metrics.metadata["macro_f1"] <= 1 and "after_sft_reward_total" in teacher_metrics.metadata
    scored = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert scored and all(p["chosen_reward"]["total"] >= p["rejected_reward"]["total"] for p in scored)
    assert json.loads(storage.read_text(f"{teacher}/evaluation.json"))["test_pairs"] == 8

    assert use_existing_model.python_func(model_uri=teacher) == teacher
    with pytest.raises(ValueError, match="not a published model"):
        use_existing_model.python_func(model_uri="s3://components/prepared")

    shards = [annotate_shard.python_func(teacher_model_uri="", trained_teacher_model_uri=teacher,
                                         input_uri="s3://components/raw/logs.jsonl", output_uri="s3://components/annotations",
                                         shard_index=index, num_shards=2, stats=metrics(f"shard{index}"),
                                         engine="transformers", samples=2, max_new_tokens=128, max_pairs=20)
              for index in range(2)]
    assert shards == ["s3://components/annotations/shard-00000", "s3://components/annotations/shard-00001"]
    merged_stats = metrics("merged")
    merged = merge_annotations.python_func(output_uri="s3://components/annotations", num_shards=2, stats=merged_stats,
                                           shard_uris=shards, input_uri="s3://components/raw/logs.jsonl", max_pairs=20)
    assert merged == "s3://components/annotations/merged/annotations.jsonl"
    assert merged_stats.metadata["rows_in"] == 20 == merged_stats.metadata["annotated"] + merged_stats.metadata["quarantined"]


def test_a_teacher_at_the_majority_class_leads_to_the_gold_only_student_alone(prepared, tmp_path):
    """check_teacher → skip_annotation → train_student, as the pipeline's gold-only branch runs them: a teacher
    trained in the run whose dev macro-F1 is the majority class's is skipped; a given teacher never is."""
    from components.check_teacher.component import check_teacher
    from components.skip_annotation.component import skip_annotation

    _, outputs, _ = prepared
    at_majority = {"macro_f1": 0.18, "majority_macro_f1": 0.18, "test_pairs": 40, "trained_on": "cpu",
                   "dev": {"pairs": 40, "macro_f1": 0.183, "majority_macro_f1": 0.183, "qwk": 0.0, "parse_rate": 1.0}}
    storage.write_text("s3://components/majority-teacher/evaluation.json", json.dumps(at_majority))
    methods = f"{PRIMARY_STUDENT_METHOD},gold_only,vanilla"
    checked = check_teacher.python_func(teacher_model_uri="s3://components/majority-teacher", student_methods=methods)
    decision = json.loads(checked.decision)
    assert checked.distil is False and checked.student_methods == "gold_only"
    assert decision["teacher_dev_macro_f1"] == decision["majority_dev_macro_f1"] == 0.183
    assert "0.1830 vs the majority class 0.1830 on 40 dev pairs" in decision["reason"]
    # A teacher the user gave, or the check switched off (a negative margin), is used as it is.
    given = check_teacher.python_func(teacher_model_uri="s3://components/majority-teacher", student_methods=methods,
                                      given_teacher_model_uri="s3://components/majority-teacher")
    assert given.distil is True and given.student_methods == methods
    off = check_teacher.python_func(teacher_model_uri="s3://components/majority-teacher", student_methods=methods,
                                    min_gain_over_majority=-1.0)
    assert off.distil is True and "off" in json.loads(off.decision)["reason"]
    # Trained on a GPU: never skipped either.
    storage.write_text("s3://components/gpu-teacher/evaluation.json", json.dumps({**at_majority, "trained_on": "cuda"}))
    assert check_teacher.python_func(teacher_model_uri="s3://components/gpu-teacher", student_methods=methods).distil

    assert skip_annotation.python_func(output_uri="s3://components/skipped-annotations", decision=checked.decision) == ""
    assert json.loads(storage.read_text("s3://components/skipped-annotations/skipped.json")) == decision
    # The gold-only student trains without annotations although the pipeline still names the pairs to annotate.
    models, training = artifact(dsl.Model, tmp_path / "models"), artifact(dsl.Metrics, tmp_path / "training")
    train_student.python_func(train_uri=outputs.train_uri, dev_uri=outputs.dev_uri, models=models, training=training,
                              methods=checked.student_methods, profile="smoke", annotations_uri="",
                              annotated_pairs_uri=outputs.unlabeled_uri, config_json=json.dumps({"max_steps": 2}))
    assert models.metadata["methods"] == ["gold_only"]
