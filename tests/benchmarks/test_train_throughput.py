"""The docs' training-throughput row is generated from the result file it cites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["train_throughput", "train_throughput_no_avx512"])
def test_the_docs_row_is_the_result_files(train_throughput, name):
    document = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    assert {"hf_trainer", *train_throughput.METHODS} <= set(document["samples_per_second"])
    assert document["provenance"]["cpu_flags"] is not None and document["provenance"]["threads"]
    assert train_throughput.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()


@pytest.mark.parametrize("name", ["stage_profile", "stage_profile_avx2", "stage_profile_no_avx512"])
def test_the_docs_stage_profile_is_the_result_files(stage_profile, name):
    document = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    assert {key.split("/")[0] for key in document["results"]} == set(stage_profile.METHODS)
    if name.endswith("no_avx512"):  # measured on a CPU without AVX-512 or bf16, the kind issue 43 is about
        assert not {"avx512f", "avx512_bf16", "amx_bf16"} & set(document["provenance"]["cpu_flags"])
        assert set(document["results"]) == {f"{method}/fp32" for method in stage_profile.METHODS}
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


def test_padding_is_counted_per_batch_and_grouping_leaves_less(padding):
    def share(lengths, batch_size, grouped, seed):
        return padding.padding(lengths, batch_size, seed, grouped)["padded_share"]

    assert share([7] * 16, 4, grouped=False, seed=0) == 0.0
    # One batch of 2: lengths 1 and 3 pad to 3 each, 2 of the 6 tokens are padding.
    assert share([1, 3], 2, grouped=False, seed=0) == pytest.approx(1 / 3)
    lengths = [1 + (i * 37) % 200 for i in range(2000)]
    assert share(lengths, 8, grouped=True, seed=13) < 0.05 < 0.3 < share(lengths, 8, grouped=False, seed=13)


def test_the_docs_teacher_sft_row_is_the_result_files(teacher_sft_throughput):
    document = json.loads((ROOT / "benchmarks" / "results" / "teacher_sft_throughput.json").read_text())
    assert set(document["datasets"]) == set(teacher_sft_throughput.DATASETS) and document["provenance"]["commit"]
    for entry in document["datasets"].values():
        assert entry["padding"]["grouped"] < entry["padding"]["plain"]
    assert teacher_sft_throughput.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()


@pytest.mark.parametrize("name", ["allocator", "allocator_crowdflower"])
def test_the_docs_allocator_rows_are_the_result_files(allocator, name):
    document = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    assert {"glibc", "keep_freed"} <= set(document["variants"]) and document["provenance"]["commit"]
    workloads = set(next(iter(document["variants"].values())))
    assert workloads <= set(allocator.WORKLOADS) and set(document["speedup_over_glibc"]["keep_freed"]) == workloads
    for run in document["variants"].values():
        assert set(run) == workloads  # every variant ran every workload
    assert allocator.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()


def test_the_docs_demo_time_table_is_the_result_files(demo_time):
    document = json.loads((ROOT / "benchmarks" / "results" / "demo_time.json").read_text())
    for run in document["runs"]:
        assert run["provenance"]["commit"] and run["run_seconds"] < run["whole_seconds"]
        assert {"teacher-sft", "train-student"} <= set(run["task_seconds"])
    assert demo_time.markdown_table(document) in (ROOT / "docs" / "main-job.md").read_text()


def test_the_docs_demo_student_budget_table_is_the_result_file(demo_student_budget):
    from relevance_distill.config import student_config_for

    document = json.loads((ROOT / "benchmarks" / "results" / "demo_student_budget.json").read_text())
    profile = student_config_for("demo")
    candidates = demo_student_budget.budgets(profile)
    assert document["setup"]["budgets"] == candidates and document["provenance"]["commit"]
    for name, methods in document["cells"].items():
        for cell in methods.values():  # every cut halves the pairs a student sees
            assert cell["pairs_seen"] * (1 if name == "demo" else 2) == profile.max_steps * profile.batch_size
    assert demo_student_budget.markdown_table(document) in (ROOT / "docs" / "main-job.md").read_text()


def test_the_docs_teacher_grouping_quality_table_is_the_result_file(teacher_sft_throughput):
    document = json.loads((ROOT / "benchmarks" / "results" / "teacher_sft_grouping.json").read_text())
    scored = {run["candidate"] for run in document["runs"] if run.get("scored_on") == "dev"}
    assert {name for pair in teacher_sft_throughput.GROUPING_PAIRS.values() for name in pair} <= scored
    assert teacher_sft_throughput.grouping_quality_table(document) in (ROOT / "docs" / "teacher.md").read_text()
