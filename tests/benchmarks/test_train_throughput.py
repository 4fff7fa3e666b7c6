"""The docs' training-throughput row is generated from the result file it cites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_row_is_the_result_files(train_throughput):
    document = json.loads((ROOT / "benchmarks" / "results" / "train_throughput.json").read_text())
    assert {"hf_trainer", *train_throughput.METHODS} <= set(document["samples_per_second"])
    assert document["provenance"]["cpu_flags"] is not None and document["provenance"]["threads"]
    assert train_throughput.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()


@pytest.mark.parametrize("name", ["stage_profile", "stage_profile_avx2"])
def test_the_docs_stage_profile_is_the_result_files(stage_profile, name):
    document = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    assert {key.split("/")[0] for key in document["results"]} == set(stage_profile.METHODS)
    if name.endswith("avx2"):  # measured with the math libraries kept to AVX2: the CPU without AVX-512 it stands for
        assert document["provenance"]["isa_limits"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
        assert set(document["results"]) == {f"{method}/fp32" for method in stage_profile.METHODS}
    assert stage_profile.markdown_table(document) in (ROOT / "docs" / "benchmarks.md").read_text()


def test_the_docs_padding_row_is_the_result_files(padding):
    document = json.loads((ROOT / "benchmarks" / "results" / "padding.json").read_text())
    assert "builtin" in document["datasets"] and document["provenance"]["commit"]
    for figures in document["datasets"].values():
        assert figures["grouped"]["padded_share"] < figures["plain"]["padded_share"]
    assert padding.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()
