"""The built-in data's labelled pairs, generated in a temporary directory, for the benchmarks that train on them."""

from __future__ import annotations

import tempfile
from pathlib import Path


def builtin_labelled_pairs() -> list:
    """Every labelled pair of the built-in data with its reasoning chain (no search logs, no corpus), in the
    generator's order: callers slice their dev and train pairs from it."""
    from relevance_distill.builtin_world.generate import generate_dataset
    from relevance_distill.config import DataGenerationConfig
    from relevance_distill.data.readers import read_models
    from relevance_distill.schemas import QueryServicePair

    with tempfile.TemporaryDirectory() as directory:
        generate_dataset(DataGenerationConfig(num_log_pairs=0, corpus_documents=0), directory)
        return read_models(str(Path(directory) / "labeled.jsonl"), QueryServicePair)
