"""benchmarks/teacher_budget.py: every candidate is a valid recipe, and recorded runs accumulate."""

from __future__ import annotations

import json

import pytest

from relevance_distill.config import ConfigError


def test_every_candidate_validates_against_its_profile_and_names_existing_sources(budget):
    for name, overrides in budget.CANDIDATES.items():
        sft, cpt = budget.candidate_config("demo", overrides)
        assert sft.max_steps >= 1 and (cpt is None) == (overrides.get("cpt", {}) is None), name
        if "cpt_from" in overrides:
            assert budget.CANDIDATES[overrides["cpt_from"]].get("cpt", {}) is not None, name
        if "sft_from" in overrides:
            source = overrides["sft_from"]
            assert source in budget.CANDIDATES and "sft_from" not in budget.CANDIDATES[source], name
            assert "preference" in overrides, name
        if "preference" in overrides:
            _, preference = budget.stage_configs("demo", overrides)
            assert preference.max_prompts >= 1, name


def test_a_misspelt_override_is_refused_with_the_allowed_fields(budget):
    with pytest.raises(ConfigError, match="max_prompt"):
        budget.stage_configs("demo", {"profile": "strong", "preference": {"max_prompt": 512}})


def test_recorded_runs_accumulate_and_a_rerecorded_run_is_kept_once(budget, tmp_path):
    path = tmp_path / "budget.json"
    first = {"candidate": "deep", "test_pairs": 320, "macro_f1": 0.5, "train_seconds": 10.0, "machine": "here"}
    budget.record_runs(path, [first])
    budget.record_runs(path, [first, {**first, "macro_f1": 0.6, "train_seconds": 11.0}])
    recorded = json.loads(path.read_text(encoding="utf-8"))
    runs = recorded["runs"]
    assert [run["macro_f1"] for run in runs] == [0.5, 0.6] and runs[0]["machine"] == "here"
    assert recorded["candidates_tried"] == 1 and recorded["runs_recorded"] == 2
    for run in runs:  # every run says where it came from
        assert {"commit", "command", "date", "cpu", "cpu_flags", "threads"} <= set(run["provenance"])
    # The same training recorded again with its test report is one run that now carries it.
    budget.record_runs(path, [{**first, "test": {"macro_f1": 0.55}}])
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    assert len(runs) == 2 and runs[0]["test"] == {"macro_f1": 0.55}


def test_runs_recorded_before_dev_selection_say_they_were_scored_on_test(budget, tmp_path):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"test_pairs": 320, "runs": [{"candidate": "deep", "macro_f1": 0.5, "train_seconds": 1.0}]}))
    budget.record_runs(path, [{"candidate": "demo", "scored_on": "dev", "macro_f1": 0.4, "train_seconds": 2.0}])
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    assert [run["scored_on"] for run in runs] == ["test", "dev"]


def test_cpt_only_finds_a_published_cpt_model_and_skips_candidates_without_one(budget, tmp_path):
    from relevance_distill import storage

    model = tmp_path / "strong_deep6" / "cpt" / "model"
    source = tmp_path / "built"
    source.mkdir()
    (source / "config.json").write_text("{}", encoding="utf-8")
    storage.publish_dir(source, str(model))
    for name in ("strong_deep6", "strong_deep6_moved", "strong_deep6_counterfactual"):  # its own, or its cpt_from's
        assert budget.candidate_cpt_model(name, "demo", budget.CANDIDATES[name], {}, tmp_path) == str(model), name
    assert budget.candidate_cpt_model("no_cpt", "demo", budget.CANDIDATES["no_cpt"], {}, tmp_path) is None
    with pytest.raises(ValueError, match="no_cpt"):
        budget.candidate_cpt_model("x", "demo", {"cpt_from": "no_cpt"}, {}, tmp_path)


def test_the_measured_counterfactual_candidates_are_the_counterfactual_profile_on_their_seeds(budget):
    from relevance_distill.teacher.profiles import teacher_config

    profile = teacher_config("counterfactual")
    for name, seed in (("strong_deep6_counterfactual", 13), ("strong_deep6_counterfactual_seed1", 1),
                       ("strong_deep6_counterfactual_seed2", 2), ("strong_deep6_counterfactual_seed3", 3)):
        sft, _ = budget.candidate_config("demo", budget.CANDIDATES[name])
        _, cpt = budget.candidate_config("demo", budget.CANDIDATES[budget.CANDIDATES[name].get("cpt_from", name)])
        assert sft == profile.sft.model_copy(update={"seed": seed}), name
        assert cpt == profile.cpt.model_copy(update={"seed": seed}), name


def test_the_dev_selection_table_lists_every_dev_run_and_bolds_the_best_on_dev(budget, tmp_path):
    def run(name, dev, test=None):
        return {"candidate": name, "profile": "strong", "scored_on": "dev", "macro_f1": dev, "qwk": 0.8,
                "parse_rate": 1.0, "majority_macro_f1": 0.14, "train_seconds": 600.0, "machine": "here",
                "threads": 1, **({"test": {"macro_f1": test}} if test else {})}

    document = {"runs": [{"candidate": "old", "scored_on": "test", "macro_f1": 0.99},
                         run("strong", 0.81), run("counterfactual", 0.88, test=0.9)]}
    table = budget.dev_selection_table(document)
    assert "old" not in table  # scored on test before dev selection: not a candidate of this choice
    assert "| **counterfactual** (chosen) | strong | 0.880 |" in table and "| 0.900 |" in table
    assert "| strong | strong | 0.810 |" in table and table.count("| – |") == 1
    readme = tmp_path / "evidence.md"
    start, end = budget.DEV_SELECTION_MARKERS
    readme.write_text(f"before\n{start}\nstale\n{end}\nafter\n")
    budget.write_dev_selection(readme, document)
    assert readme.read_text() == f"before\n{start}\n{table}\n{end}\nafter\n"


def test_the_docs_dev_selection_is_the_result_files(budget):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    document = json.loads((root / "benchmarks" / "results" / "teacher_budget.json").read_text(encoding="utf-8"))
    assert [run for run in document["runs"] if run.get("scored_on") == "dev"], "no run scored on dev is recorded"
    assert budget.dev_selection_table(document) in (root / "docs" / "evidence.md").read_text(encoding="utf-8")
