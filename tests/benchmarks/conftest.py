"""The scripts under benchmarks/ are not a package: each test gets its script loaded from the file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def comparison(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling teacher_budget
    return load_benchmark("method_comparison")


@pytest.fixture
def errors(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling teacher_budget
    return load_benchmark("teacher_errors")


@pytest.fixture
def budget(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling _machine
    return load_benchmark("teacher_budget")


@pytest.fixture
def district_probe(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its siblings teacher_budget and teacher_errors
    return load_benchmark("district_probe")


@pytest.fixture
def teacher_margin(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling teacher_budget
    return load_benchmark("teacher_margin")


@pytest.fixture
def train_throughput(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling _machine
    return load_benchmark("train_throughput")


@pytest.fixture
def stage_profile(monkeypatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its sibling _machine
    return load_benchmark("stage_profile")
