from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from relevance_distill.cli import NOT_BUILT_STAGES, app

runner = CliRunner()


def test_every_command_has_help():
    for command in [[], ["data"], ["data", "generate"], ["data", "validate"], ["data", "split"], ["data", "stats"], ["run"]]:
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


def test_run_smoke_through_installed_entry_point(tmp_path):
    """The main job as a user runs it: a real process, embedded S3 started and stopped by the run."""
    workdir = tmp_path / "run"
    process = subprocess.run([sys.executable, "-m", "relevance_distill.cli", "run", "--profile", "smoke", "--workdir", str(workdir)],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr + process.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["stages_completed"] == ["generate_data", "prepare_data"]
    assert summary["stages_not_built"] == NOT_BUILT_STAGES
    assert "NOT BUILT YET" in process.stdout
    validation = summary["prepare"]["validation"]
    assert validation["rows_in"] == validation["kept"] + validation["quarantined"] > 0
    assert (workdir / "prepared" / "manifest.json").is_file() and (workdir / "prepared" / "train.jsonl").is_file()
