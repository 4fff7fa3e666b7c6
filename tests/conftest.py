"""Shared fixtures: a real S3-compatible server (moto server mode) on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relevance_distill import storage

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = storage.EmbeddedS3(log_path=tmp_path_factory.mktemp("s3") / "moto.log").start()
    saved = {key: os.environ.get(key) for key in server.env()}
    os.environ.update(server.env())
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket per test, as an s3:// URI."""
    name = "test-" + "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:50].strip("-")
    uri = f"s3://{name}"
    storage.ensure_bucket(uri)
    return uri


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (the real public datasets live in ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def builtin_splits(tmp_path_factory):
    """Small built-in data, split by query (train/dev/test)."""
    from relevance_distill.builtin_world.generate import generate_dataset
    from relevance_distill.config import DataGenerationConfig
    from relevance_distill.data.readers import read_models
    from relevance_distill.data.split import split_pairs
    from relevance_distill.schemas import QueryServicePair

    directory = tmp_path_factory.mktemp("builtin")
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=0, corpus_documents=0, seed=2), directory)
    pairs = read_models(str(directory / "labeled.jsonl"), QueryServicePair)
    return split_pairs(pairs, {"train": 0.7, "dev": 0.15, "test": 0.15}, "query", seed=2)


@pytest.fixture(scope="session")
def scheme():
    from relevance_distill.schemas import get_label_scheme

    return get_label_scheme("local_services")


@pytest.fixture(scope="session")
def exported_model(builtin_splits, scheme, s3_server, tmp_path_factory):
    """A tiny student trained for a few steps and exported (every ONNX graph, INT8 gated on the test split) to the
    embedded S3: (uri, local dir)."""
    from relevance_distill.config import student_config_for
    from relevance_distill.export import ExportConfig, export_student
    from relevance_distill.student.train import train_student

    directory = tmp_path_factory.mktemp("exported")
    config = student_config_for("smoke", max_steps=4, eval_every_steps=4)
    train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], directory / "train")
    storage.ensure_bucket("s3://models")
    result = export_student(directory / "train" / "best", "s3://models", scheme, "relevance", "v-test-1",
                            {"test": {"macro_f1": 0.5}}, config=ExportConfig(), test_pairs=builtin_splits["test"],
                            calibration_pairs=builtin_splits["dev"],
                            local_copy=directory / "local")
    return result["model_uri"], directory / "local"
