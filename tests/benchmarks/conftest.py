"""The scripts under benchmarks/ are not a package: each test gets its script loaded from the file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_sibling_benchmark(monkeypatch, name: str) -> ModuleType:
    """A benchmark script that imports its sibling scripts (teacher_budget, _machine, …): benchmarks/ on sys.path."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return load_benchmark(name)


def load_benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def comparison(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "method_comparison")  # the script imports its sibling teacher_budget


@pytest.fixture
def errors(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "teacher_errors")  # the script imports its sibling teacher_budget


@pytest.fixture
def budget(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "teacher_budget")  # the script imports its sibling _machine


@pytest.fixture
def district_probe(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "district_probe")  # the script imports its siblings teacher_budget and teacher_errors


@pytest.fixture
def teacher_margin(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "teacher_margin")  # the script imports its sibling teacher_budget


@pytest.fixture
def train_throughput(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "train_throughput")  # the script imports its sibling _machine


@pytest.fixture
def demo_time(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "demo_time")  # the script imports its sibling _machine


@pytest.fixture
def allocator(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "allocator")  # the script imports its sibling _machine


@pytest.fixture
def stage_profile(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "stage_profile")  # the script imports its sibling _machine


@pytest.fixture
def own_data(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "own_data")  # the script imports its sibling _machine


@pytest.fixture
def padding(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "padding")  # the script imports its sibling _machine


@pytest.fixture
def cpu_threads(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "cpu_threads")  # the script imports its siblings at run time


@pytest.fixture
def own_data_baselines(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "own_data_baselines")  # the script imports its siblings own_data, _machine


@pytest.fixture
def teacher_sft_throughput(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "teacher_sft_throughput")  # the script imports _machine, own_data, padding


@pytest.fixture
def demo_student_budget(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "demo_student_budget")  # the script imports its sibling _machine


@pytest.fixture
def added_token_init(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "added_token_init")  # the script imports its siblings own_data, _machine


@pytest.fixture
def give_up_probe(monkeypatch) -> ModuleType:
    return load_sibling_benchmark(monkeypatch, "sft_give_up_probe")  # the script imports its sibling _machine
