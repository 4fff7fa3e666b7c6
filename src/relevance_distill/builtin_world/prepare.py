"""The built-in data prepared as the main job's prepare stage does it (benchmarks measure on exactly these splits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, PrepareDataConfig
from relevance_distill.data.prepare import prepare_dataset, split_uris


def prepare_builtin(directory: str | Path, generation: Any = None, config: PrepareDataConfig | None = None) -> dict[str, str]:
    """The main job's built-in data (generated with GENERATION, default the demo sizes) prepared into DIRECTORY
    as the prepare stage does it: the split URIs, 'unlabeled' (logs minus dev/test queries) and 'corpus'.
    Benchmarks measure on exactly the main job's splits this way; an existing preparation is reused."""
    raw, prepared = Path(directory) / "builtin", Path(directory) / "prepared"
    if not (prepared / storage.MANIFEST_NAME).is_file():
        generate_dataset(generation or DataGenerationConfig(), raw)
        prepare_dataset(str(raw / "labeled.jsonl"), str(prepared), config or PrepareDataConfig(),
                        unlabeled_uri=str(raw / "search_logs.jsonl"))
    return {**split_uris(str(prepared)), "corpus": str(raw / "corpus.jsonl")}
