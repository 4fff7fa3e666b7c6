"""The docs' training-throughput row is generated from the result file it cites."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_row_is_the_result_files(train_throughput):
    document = json.loads((ROOT / "benchmarks" / "results" / "train_throughput.json").read_text())
    assert {"hf_trainer", "gold_only", "vanilla", "crsd_no_verdict"} <= set(document["samples_per_second"])
    assert document["provenance"]["cpu_flags"] is not None and document["provenance"]["threads"]
    assert train_throughput.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()


def test_the_docs_stage_profile_is_the_result_files(stage_profile):
    document = json.loads((ROOT / "benchmarks" / "results" / "stage_profile.json").read_text())
    assert {key.split("/")[0] for key in document["results"]} == set(stage_profile.METHODS)
    assert stage_profile.markdown_table(document) in (ROOT / "docs" / "benchmarks.md").read_text()
