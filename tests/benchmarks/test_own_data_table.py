"""The README's own-data table is generated from the result file of the README's own-data commands."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_the_result_file(own_data):
    document = json.loads((ROOT / "benchmarks" / "results" / "own_data.json").read_text(encoding="utf-8"))
    assert set(document["datasets"]) == set(own_data.COMMANDS)
    for dataset, entry in document["datasets"].items():
        where = entry["provenance"]
        assert {"commit", "command", "date", "cpu", "cpu_flags", "threads", "test_set_sha256"} <= set(where)
        # The command recorded is the README's: the labelled file and its format, nothing else but the work directory.
        assert where["command"].startswith(f"relevance-distill run --labeled ../shared/data/{own_data.COMMANDS[dataset][0]} "
                                           f"--format {own_data.COMMANDS[dataset][1]} --workdir ")
        assert where["test_set_sha256"] == entry["test"]["fingerprint"]
        assert entry["rows"]["in"] == entry["rows"]["kept"] + entry["rows"]["quarantined"]
        for student in entry["students"].values():
            assert {"macro_f1", "qwk"} <= set(student["argmax"]) and student["training"]["stop_reason"]
        assert set(entry["tasks"]) and entry["wall_seconds"] > 0
    assert own_data.markdown_table(document) in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_examples_table_in_the_docs_is_their_result_file(own_data):
    document = json.loads((ROOT / "benchmarks" / "results" / "own_data_examples.json").read_text(encoding="utf-8"))
    assert set(document["datasets"]) <= set(own_data.EXAMPLES)
    for example, entry in document["datasets"].items():
        # The command recorded is the documented example's config, as a user runs it.
        assert entry["provenance"]["command"].startswith(f"relevance-distill run --config examples/{example}.yaml ")
        assert entry["provenance"]["test_set_sha256"] == entry["test"]["fingerprint"]
        assert (ROOT / "examples" / f"{example}.yaml").is_file()
    table = own_data.markdown_table(document)
    assert "(`--config examples/crowdflower-kaggle.yaml`)" in table
    assert table in (ROOT / "docs" / "own-data.md").read_text(encoding="utf-8")


def test_a_summary_becomes_an_entry(own_data):
    summary = {
        "data": {"rows_in": 10, "kept": 9, "quarantined": 1, "quarantine_reasons": {"duplicate": 1},
                 "test": {"pairs": 3, "fingerprint": "f" * 64}},
        "teacher": {"macro_f1": 0.2, "majority_macro_f1": 0.2, "decision": {"distil": False, "reason": "at majority"}},
        "students": {"gold_only": {"macro_f1": 0.5, "qwk": 0.6, "ordinal_macro_f1": 0.55, "ordinal_qwk": 0.7,
                                   "ordinal_ci": {"macro_f1": [0.45, 0.65], "qwk": [0.6, 0.8], "queries": 3, "resamples": 1000},
                                   "training": {"epochs": 2.5, "stop_reason": "no dev macro-F1 gain in 3 evaluations"}}},
        "gate": {"passed": True, "reasons": ["ok"], "published_method": "gold_only"}, "gate_decoding": "ordinal",
        "model_uri": "s3://b/m", "tasks": [{"task": "train-student", "seconds": 60.0}]}
    entry = own_data.entry_from_summary(summary, 120.0)
    ordinal = entry["students"]["gold_only"]["ordinal"]
    assert entry["published"] == "gold_only" and (ordinal["macro_f1"], ordinal["qwk"]) == (0.55, 0.7)
    assert ordinal["ci"]["qwk"] == [0.6, 0.8] and "ci" not in entry["students"]["gold_only"]["argmax"]
    table = own_data.markdown_table({"datasets": {"qbqtc": {**entry, "provenance": {"machine": "2-CPU test"}}}})
    assert ("| gold_only, ordinal decoding (2.5 epochs, stopped: no dev macro-F1 gain in 3 evaluations) | "
            "0.550 (0.450–0.650) | 0.700 (0.600–0.800) |") in table
    # An entry measured before the evaluation reported intervals shows the figure alone.
    del entry["students"]["gold_only"]["ordinal"]["ci"]
    assert "| 0.550 | 0.700 |" in own_data.markdown_table({"datasets": {"qbqtc": {**entry, "provenance": {"machine": "m"}}}})
    assert "skipped" in table and "2.0 min" in table
    failed = own_data.entry_from_summary({**summary, "model_uri": None, "gate": {**summary["gate"], "passed": False,
                                                                                  "reasons": ["macro-F1 too low"]}}, 60.0)
    assert failed["published"] is None
    assert "none: macro-F1 too low" in own_data.markdown_table({"datasets": {"qbqtc": {**failed, "provenance": {"machine": "m"}}}})


def test_the_baselines_table_is_their_result_file_on_the_same_test_sets(own_data_baselines):
    results = ROOT / "benchmarks" / "results"
    document = json.loads((results / "own_data_baselines.json").read_text(encoding="utf-8"))
    students = json.loads((results / "own_data.json").read_text(encoding="utf-8"))["datasets"]
    for dataset, entry in document["datasets"].items():
        # The same test pairs as the README's command evaluated its student on.
        assert entry["test"]["fingerprint"] == students[dataset]["test"]["fingerprint"]
        assert entry["provenance"]["test_set_sha256"] == entry["test"]["fingerprint"]
        assert {"commit", "command", "date", "cpu", "cpu_flags", "threads"} <= set(entry["provenance"])
        assert set(entry["baselines"]) == set(own_data_baselines.BASELINES)
        for result in entry["baselines"].values():
            test = result["ordinal"]["test"]
            assert test["qwk_ci"][0] <= test["qwk"] <= test["qwk_ci"][1]
    assert own_data_baselines.markdown_table(document, students) in (ROOT / "docs" / "own-data.md").read_text(encoding="utf-8")
    # A student entry that recorded its intervals shows them beside the baselines' own.
    dataset = next(iter(document["datasets"]))
    entry = json.loads(json.dumps(students[dataset]))
    entry["students"][entry["published"]]["ordinal"]["ci"] = {"macro_f1": [0.4, 0.5], "qwk": [0.3, 0.6]}
    table = own_data_baselines.markdown_table({"datasets": {dataset: document["datasets"][dataset]}}, {dataset: entry})
    assert "(fine-tuned MiniLM) | – | " in table and " (0.300–0.600) | " in table and table.endswith(" (0.400–0.500) |")


def test_ordinal_cutpoints_come_from_dev_and_the_test_interval_resamples_queries(own_data_baselines):
    import numpy as np

    rng = np.random.default_rng(0)
    gold = {name: rng.integers(0, 3, 90) for name in ("dev", "test")}
    # Dev: confident and right; test: the same model, so the figures differ only by the data.
    probabilities = {name: np.eye(3)[gold[name]] * 0.8 + 0.2 / 3 for name in ("dev", "test")}
    groups = np.repeat(np.arange(9), 10)
    result = own_data_baselines.score(probabilities, gold, groups, 3)
    assert result["argmax"]["test"]["macro_f1"] == 1.0 and result["ordinal"]["dev"]["qwk"] == 1.0
    assert result["ordinal"]["test"]["qwk_ci"] == [1.0, 1.0]
    noisy = {name: rng.uniform(0, 1, (90, 3)) for name in ("dev", "test")}
    for name in noisy:
        noisy[name][np.arange(90), gold[name]] += 0.3
    interval = own_data_baselines.score(noisy, gold, groups, 3)["argmax"]["test"]["macro_f1_ci"]
    assert interval[0] < interval[1]


def test_baseline_probabilities_have_a_column_for_every_label_of_the_scheme(own_data_baselines):
    import numpy as np

    rng = np.random.default_rng(0)
    features = {name: rng.normal(size=(40, 2)) for name in ("train", "dev", "test")}
    gold = {name: rng.integers(0, 2, 40) for name in features}  # the scheme has 4 labels; train holds two
    probabilities = own_data_baselines.fit_probabilities("minilm_cosine", features, gold, num_labels=4)
    for name in ("dev", "test"):
        assert probabilities[name].shape == (40, 4) and not probabilities[name][:, 2:].any()
        assert np.allclose(probabilities[name].sum(axis=1), 1.0)
