from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relevance_distill import storage
from relevance_distill.cli import app
from relevance_distill.config import DEFAULT_STUDENT_METHODS, PRIMARY_STUDENT_METHOD
from relevance_distill.progress import clock

runner = CliRunner()


def test_every_command_has_help():
    for command in [[], ["data"], ["data", "generate"], ["data", "validate"], ["data", "split"], ["data", "stats"], ["run"],
                    ["train-student"], ["evaluate"], ["export"], ["serve"], ["compile"], ["submit"], ["abtest"],
                    ["abtest", "simulate"], ["abtest", "analyze"]]:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_generate_split_stats(tmp_path):
    out = tmp_path / "gen"
    result = runner.invoke(app, ["data", "generate", "--out", str(out), "--services", "60", "--queries", "30", "--log-pairs", "20", "--corpus-docs", "10"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "split", str(out / "labeled.jsonl"), "--out", str(tmp_path / "splits"), "--fractions", "train=0.6,dev=0.2,test=0.2"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "splits" / "split_stats.json").read_text())
    assert sum(s["pairs"] for s in stats.values()) == 30 * 8
    result = runner.invoke(app, ["data", "stats", str(tmp_path / "splits" / "test.jsonl")])
    assert result.exit_code == 0 and json.loads(result.output.strip().splitlines()[-1])["pairs"] == stats["test"]["pairs"]


def test_bad_arguments_fail_with_allowed_values(tmp_path):
    result = runner.invoke(app, ["data", "validate", "x.csv", "--format", "tsv"])
    assert result.exit_code == 2 and "allowed" in result.output
    result = runner.invoke(app, ["data", "validate", str(tmp_path / "missing.csv"), "--format", "crowdflower"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["data", "split", "x.jsonl", "--out", str(tmp_path), "--fractions", "train=0.5"])
    assert result.exit_code == 2 and "sum to 1" in result.output
    result = runner.invoke(app, ["train-student", "--train", "a", "--dev", "b", "--output", str(tmp_path), "--profile", "huge"])
    assert result.exit_code == 2 and "allowed" in result.output


def test_student_cli_train_evaluate_export(builtin_splits, tmp_path, s3_bucket):
    from relevance_distill.data.readers import write_jsonl

    for name, pairs in builtin_splits.items():
        write_jsonl(str(tmp_path / f"{name}.jsonl"), pairs)
    result = runner.invoke(app, ["train-student", "--train", str(tmp_path / "train.jsonl"), "--dev", str(tmp_path / "dev.jsonl"),
                                 "--output", str(tmp_path / "out"), "--methods", f"vanilla,{PRIMARY_STUDENT_METHOD}", "--profile", "smoke",
                                 "--max-steps", "3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", "--test", str(tmp_path / "test.jsonl"), "--models", str(tmp_path / "out"),
                                 "--out", str(tmp_path / "eval"), "--latency-requests", "2"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "eval" / "gate.json").exists()  # evaluation writes metrics only
    result = runner.invoke(app, ["gate", "--evaluation", str(tmp_path / "eval")])
    assert result.exit_code == 1 and "gate FAILED" in result.output  # a 3-step tiny model misses the default thresholds
    assert json.loads((tmp_path / "eval" / "gate.json").read_text())["passed"] is False
    result = runner.invoke(app, ["export", "--models", str(tmp_path / "out"), "--evaluation", str(tmp_path / "eval"),
                                 "--output-root", s3_bucket, "--version", "v9", "--no-onnx"])
    assert result.exit_code == 2 and "need the gold test split" in result.output  # bf16 is gated on --test
    result = runner.invoke(app, ["export", "--models", str(tmp_path / "out"), "--evaluation", str(tmp_path / "eval"),
                                 "--output-root", s3_bucket, "--version", "v9", "--no-onnx",
                                 "--test", str(tmp_path / "test.jsonl")])
    assert result.exit_code == 2 and "openvino_int8 needs calibration pairs" in result.output
    result = runner.invoke(app, ["export", "--models", str(tmp_path / "out"), "--evaluation", str(tmp_path / "eval"),
                                 "--output-root", s3_bucket, "--version", "v9", "--no-onnx",
                                 "--test", str(tmp_path / "test.jsonl"), "--calibration", str(tmp_path / "dev.jsonl")])
    assert result.exit_code == 0, result.output
    files = storage.read_manifest(f"{s3_bucket}/models/relevance/v9").files
    assert "model.safetensors" in files and "model.onnx" not in files
    info = json.loads(storage.read_text(f"{s3_bucket}/models/relevance/v9/relevance_distill.json"))
    # The primary method (not the first trained) is the one evaluated for the gate and exported, with its trained budget.
    assert info["method"] == PRIMARY_STUDENT_METHOD and info["max_length"] == 64
    assert info["backends"]["openvino_int8"]["gate"]["test_pairs"] > 0
    assert info["backends"]["openvino_int8"]["calibration_pairs"] == len(builtin_splits["dev"])


def test_train_student_without_a_terminal_prints_periodic_progress_lines(builtin_splits, tmp_path):
    """What a pod's log shows: plain progress lines at the configured interval (every step here), then a result."""
    import os

    from relevance_distill.data.readers import write_jsonl
    from relevance_distill.progress import INTERVAL_ENVIRONMENT, PROGRESS_PATTERN

    for name in ("train", "dev"):
        write_jsonl(str(tmp_path / f"{name}.jsonl"), builtin_splits[name])
    process = subprocess.run(
        [sys.executable, "-m", "relevance_distill.cli", "train-student", "--train", str(tmp_path / "train.jsonl"),
         "--dev", str(tmp_path / "dev.jsonl"), "--output", str(tmp_path / "out"), "--methods", "crsd",
         "--profile", "smoke", "--max-steps", "5"],
        capture_output=True, text=True, timeout=600, env={**os.environ, INTERVAL_ENVIRONMENT: "0"})
    assert process.returncode == 0, process.stderr[-3000:]
    steps = [int(match["done"]) for line in process.stderr.splitlines()
             if (match := PROGRESS_PATTERN.match(line)) and match["label"] == "train crsd"]
    assert steps[0] == 0 and steps[-1] == 5 and steps == sorted(steps) and len(set(steps)) == 6, steps
    assert "loss=" in process.stderr and "ETA" in process.stderr
    assert "result: student crsd: best dev macro-F1" in process.stderr


def test_run_smoke_end_to_end(tmp_path):
    """The main job as a user runs it: a real process, the pipelines under kfp.local, embedded S3 started and stopped.

    The smoke teacher (80 SFT steps of a random 2-layer model) labels the majority class, so the first run takes the
    gold-only branch; the rerun is given that teacher, which is never skipped, and distils."""
    workdir = tmp_path / "run"
    process = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--profile", "smoke", "--workdir", str(workdir)],
                             capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-3000:] + process.stdout[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    teacher = summary["teacher"]
    assert 0 <= teacher["macro_f1"] <= 1 and 0 <= teacher["majority_macro_f1"] <= 1
    assert teacher["test_pairs"] > 0  # the whole gold test split, so retention is on the same set as the students
    # A teacher at the majority class on dev: no annotation, no distillation, the gold-only student alone, said so.
    decision = teacher["decision"]
    assert decision["distil"] is False
    assert decision["teacher_dev_macro_f1"] - decision["majority_dev_macro_f1"] <= decision["min_gain_over_majority"]
    assert "gold-only student is trained alone" in decision["reason"]
    assert summary["annotation"] == {"skipped": decision["reason"]} and summary["retention"] is None
    assert set(summary["students"]) == {"gold_only"}
    trained = summary["students"]["gold_only"]["training"]
    assert trained["steps"] == 12 and trained["stop_reason"] == "step budget (12 steps)" and trained["epochs"] > 0
    assert summary["gate"]["passed"] is True and summary["gate"]["published_method"] == "gold_only"
    assert summary["model_uri"].endswith(f"/models/relevance/v{summary['run_id']}")
    assert "not trained" in summary["ab"]["skipped"]
    assert "distil from the teacher?" in process.stdout and "skipped" in process.stdout
    # Every teacher step published its model to S3 with a manifest listing weights and config.
    assert set(teacher["steps"]) == {"cpt", "sft", "reward", "dpo"}
    assert all({"config.json", "model.safetensors"} <= set(step["files"]) for step in teacher["steps"].values())
    manifest = json.loads((workdir / "model" / "manifest.json").read_text())
    assert {"model.safetensors", "label_scheme.json", "relevance_distill.json", "model.onnx"} <= set(manifest["files"])
    # Readable: every pipeline task as one line with its duration, library chatter only in the per-task logs.
    shown = process.stdout.splitlines() + process.stderr.splitlines()
    table = next(i for i, line in enumerate(shown) if line.lstrip().startswith("┌"))
    before = [line for line in shown[:table] if line.strip()]  # the task lines: at most two per task and a header
    assert len(before) <= 2 * len(summary["tasks"]) + 8, before
    # After it, only the summary table (whose rows wrap with the outcome) and the two closing lines.
    after = [line for line in shown[table:] if line.strip()]
    assert all(line[0] in "┌│├└" for line in after[:-2]) and after[-2].startswith("summary:"), after[-3:]
    assert not any("KFP Executor" in line or "{'loss'" in line for line in shown)
    executed = {path.name for path in (workdir / "kfp").glob("relevance-*/**/executor_output.json")
                for path in [path.parent]}
    assert {task["task"] for task in summary["tasks"]} == executed
    assert not any(name.startswith(("annotate-shard", "merge-annotations")) for name in executed), executed
    for task in summary["tasks"]:
        assert task["status"] == "SUCCESS" and Path(task["log"]).is_file()
        assert any(line.split()[:2] == ["ok", task["task"]] and f"({clock(task['seconds'])})" in line
                   for line in shown), task

    # A second run reuses the first run's teacher: no teacher step runs, the same teacher figures come back, and a
    # given teacher is always distilled from.
    rerun = tmp_path / "rerun"
    process = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--profile", "smoke", "--workdir", str(rerun),
                              "--teacher-model-uri", teacher["local_copy"]], capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-3000:] + process.stdout[-3000:]
    again = json.loads((rerun / "summary.json").read_text())
    assert again["teacher"]["model_uri"] == teacher["local_copy"] and "steps" not in again["teacher"]
    assert again["teacher"]["macro_f1"] == teacher["macro_f1"]
    assert again["teacher"]["decision"]["distil"] is True and "given" in again["teacher"]["decision"]["reason"]
    ran = {path.name for path in (rerun / "kfp").glob("relevance-distillation-*/*") if path.is_dir()}
    assert not ran & {"teacher-cpt", "teacher-sft", "reward-model", "teacher-preference"}, ran
    assert any(n.startswith("use-existing-model") for n in ran) and any(n.startswith("for-loop") for n in ran), ran
    assert set(again["students"]) == set(DEFAULT_STUDENT_METHODS)
    for method in DEFAULT_STUDENT_METHODS:
        assert 0 <= again["students"][method]["macro_f1"] <= 1
    assert again["retention"] == pytest.approx(again["students"][PRIMARY_STUDENT_METHOD]["macro_f1"] / again["teacher"]["macro_f1"])
    versus = again["teacher_vs_gold_only"]  # on dev, with an interval over dev queries
    assert versus["split"] == "dev" and versus["test"]["gold_only_macro_f1"] == again["students"]["gold_only"]["macro_f1"]
    low, high = versus["ci"]
    assert low <= versus["difference"] <= high
    assert versus["teacher_beats_gold_only"].startswith({"better": "yes", "worse": "no", "not distinguishable": "not shown"}[versus["verdict"]])
    assert again["gate"]["published_method"] in again["students"] and again["gate"]["passed"] is True
    assert "gold-only" in process.stdout
    counts = again["annotation"]
    assert counts["shards"] == 2 and counts["rows_in"] == 40 == counts["annotated"] + counts["quarantined"]
    assert again["ab"]["decision"] in {"promote", "continue", "rollback"}
    assert (Path(again["gitops_manifests"]) / "overlays" / "canary" / "canary-traffic-percent.yaml").is_file()
    assert again["ab"]["action"] in {"none", "gitops"}
    assert "teacher macro-F1" in process.stdout and "teacher annotations" in process.stdout
