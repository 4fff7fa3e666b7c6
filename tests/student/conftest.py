from __future__ import annotations

import pytest

from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.generate import generate_dataset
from relevance_distill.data.readers import read_models
from relevance_distill.data.split import split_pairs
from relevance_distill.schemas import QueryServicePair, get_label_scheme


@pytest.fixture(scope="session")
def builtin_splits(tmp_path_factory):
    directory = tmp_path_factory.mktemp("builtin")
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=0, corpus_documents=0, seed=2), directory)
    pairs = read_models(str(directory / "labeled.jsonl"), QueryServicePair)
    return split_pairs(pairs, {"train": 0.7, "dev": 0.15, "test": 0.15}, "query", seed=2)


@pytest.fixture(scope="session")
def scheme():
    return get_label_scheme("local_services")
