from __future__ import annotations

import pytest

from relevance_distill.config import (
    ConfigError,
    PrepareDataConfig,
    RunConfig,
    concrete_decoding,
    load_config,
    parse_config,
)


def test_defaults_are_valid():
    config = RunConfig()
    assert config.profile == "demo" and config.prepare.split_fractions == {"train": 0.8, "dev": 0.1, "test": 0.1}


def test_unknown_key_names_path_and_allowed_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("prepare:\n  split_strategi: query\n")
    with pytest.raises(ConfigError) as error:
        load_config(RunConfig, path)
    message = str(error.value)
    assert "prepare.split_strategi: unknown key" in message and "'split_strategy'" in message and str(path) in message


def test_bad_literal_lists_allowed_values():
    with pytest.raises(ConfigError) as error:
        parse_config(RunConfig, {"prepare": {"input_format": "tsv"}})
    message = str(error.value)
    assert "prepare.input_format" in message and "'crowdflower'" in message and "'tsv'" in message


def test_value_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"data.num_services: Input should be greater than or equal to 10"):
        parse_config(RunConfig, {"data": {"num_services": 3}})
    with pytest.raises(ConfigError, match="sum to 1"):
        parse_config(PrepareDataConfig, {"split_fractions": {"train": 0.9}})
    with pytest.raises(ConfigError, match="unknown label scheme 'nope'"):
        parse_config(PrepareDataConfig, {"label_scheme": "nope"})


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(RunConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(RunConfig, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(RunConfig, listy)


def test_overrides_win_over_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("profile: demo\ndata:\n  seed: 1\n  num_queries: 50\n")
    config = load_config(RunConfig, path, {"profile": "smoke", "data": {"seed": 2}})
    assert (config.profile, config.data.seed, config.data.num_queries) == ("smoke", 2, 50)


def test_own_data_settings():
    """A public format brings its label scheme; extra files need labelled pairs; student overrides are checked."""
    config = parse_config(RunConfig, {"inputs": {"labeled_uri": "train.csv.zip", "test_uri": "test.csv"},
                                      "prepare": {"input_format": "crowdflower"}, "student": {"max_steps": 450}})
    assert config.prepare.resolved_label_scheme().name == "crowdflower" and not config.inputs.builtin
    assert parse_config(RunConfig, {"prepare": {"input_format": "qbqtc", "label_scheme": "esci"}}).prepare.label_scheme == "esci"
    assert RunConfig().inputs.builtin and RunConfig().prepare.label_scheme == "local_services"
    with pytest.raises(ConfigError, match=r"\['test_uri'\] need labelled pairs too"):
        parse_config(RunConfig, {"inputs": {"test_uri": "test.csv"}})
    with pytest.raises(ConfigError, match="(?s)student: .*max_stepz: unknown key"):
        parse_config(RunConfig, {"student": {"max_stepz": 1}})


def test_your_data_trains_students_until_dev_stops_improving():
    """The built-in data's fixed 100 demo steps never reach a user's data: it gets the 'full' student profile (most
    epochs and patience), and so does the compiled pipeline, which always trains on a user's data."""
    from relevance_distill.config import StudentTrainConfig, student_config_for
    from relevance_distill.pipeline_parameters import pipeline_defaults

    own = parse_config(RunConfig, {"inputs": {"labeled_uri": "train.csv.zip"}, "prepare": {"input_format": "crowdflower"}})
    assert own.active_student_profile() == "full" == pipeline_defaults()["student_profile"]
    full = student_config_for("full")
    assert full == StudentTrainConfig() and full.max_steps is None and full.epochs > 1 and full.early_stopping_patience > 0
    demo = student_config_for(RunConfig().active_student_profile())
    assert (demo.max_steps, demo.early_stopping_patience) == (100, 0)
    smoke = parse_config(RunConfig, {"profile": "smoke", "inputs": {"labeled_uri": "pairs.jsonl"}})
    assert smoke.active_student_profile() == "smoke"


def test_the_documented_crowdflower_config_loads():
    from pathlib import Path

    config = load_config(RunConfig, Path(__file__).resolve().parents[2] / "examples" / "crowdflower-kaggle.yaml")
    assert config.prepare.label_scheme == "crowdflower" and config.prepare.split_fractions["test"] == 0.2
    assert config.prepare.split_strategy == "random" and config.teacher_profile() == "smoke"
    # Only the split and the teacher differ from the README's command: the student keeps the own-data budget.
    assert not config.student


def test_auto_decoding_is_ordinal_for_a_graded_scheme_and_argmax_for_two_labels():
    from relevance_distill.evaluation.gate import resolve_decoding

    assert [concrete_decoding("auto", labels) for labels in (2, 3, 4)] == ["argmax", "ordinal", "ordinal"]
    assert concrete_decoding("argmax", 4) == "argmax" and concrete_decoding("ordinal", 2) == "ordinal"
    with pytest.raises(ValueError, match=r"unknown decoding 'expected'; allowed: \['auto', 'argmax', 'ordinal'\]"):
        concrete_decoding("expected", 4)
    # The gate reads the same rule from a metrics document: K - 1 cut-points for K labels.
    for labels in (2, 3, 4):
        metrics = {"test": {"ordinal": {"cutpoints": [k + 0.5 for k in range(labels - 1)]}}}
        assert resolve_decoding("auto", metrics) == concrete_decoding("auto", labels)
    assert resolve_decoding("auto", {"test": {}}) == "argmax"
