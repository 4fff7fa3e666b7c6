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


def test_a_summary_becomes_an_entry(own_data):
    summary = {
        "data": {"rows_in": 10, "kept": 9, "quarantined": 1, "quarantine_reasons": {"duplicate": 1},
                 "test": {"pairs": 3, "fingerprint": "f" * 64}},
        "teacher": {"macro_f1": 0.2, "majority_macro_f1": 0.2, "decision": {"distil": False, "reason": "at majority"}},
        "students": {"gold_only": {"macro_f1": 0.5, "qwk": 0.6, "ordinal_macro_f1": 0.55, "ordinal_qwk": 0.7,
                                   "training": {"epochs": 2.5, "stop_reason": "no dev macro-F1 gain in 3 evaluations"}}},
        "gate": {"passed": True, "reasons": ["ok"], "published_method": "gold_only"}, "gate_decoding": "ordinal",
        "model_uri": "s3://b/m", "tasks": [{"task": "train-student", "seconds": 60.0}]}
    entry = own_data.entry_from_summary(summary, 120.0)
    assert entry["published"] == "gold_only" and entry["students"]["gold_only"]["ordinal"] == {"macro_f1": 0.55, "qwk": 0.7}
    table = own_data.markdown_table({"datasets": {"qbqtc": {**entry, "provenance": {"machine": "2-CPU test"}}}})
    assert "| gold_only, ordinal decoding (2.5 epochs, stopped: no dev macro-F1 gain in 3 evaluations) | 0.550 | 0.700 |" in table
    assert "skipped" in table and "2.0 min" in table
    failed = own_data.entry_from_summary({**summary, "model_uri": None, "gate": {**summary["gate"], "passed": False,
                                                                                  "reasons": ["macro-F1 too low"]}}, 60.0)
    assert failed["published"] is None
    assert "none: macro-F1 too low" in own_data.markdown_table({"datasets": {"qbqtc": {**failed, "provenance": {"machine": "m"}}}})
