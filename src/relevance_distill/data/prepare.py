"""The prepare stage: validate + de-duplicate + split labelled pairs, published as one checksummed artifact.

Artifact layout (under the output URI, ``manifest.json`` written last):
``train.jsonl dev.jsonl test.jsonl`` (names from the config), ``quarantine.jsonl``, ``validation.json``
(rows in / kept / quarantined and reasons), ``stats.json`` (per split) and ``label_scheme.json``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.config import PrepareDataConfig
from relevance_distill.data.adapters import open_adapter
from relevance_distill.data.readers import write_jsonl
from relevance_distill.data.split import dataset_stats, split_pairs
from relevance_distill.data.validate import validate_rows
from relevance_distill.progress import report_result


def prepare_dataset(
    input_uri: str,
    output_uri: str,
    config: PrepareDataConfig,
    products_uri: str | None = None,
    on_row: Callable[[], None] | None = None,
) -> dict[str, Any]:
    scheme = config.resolved_label_scheme()
    adapter = open_adapter(config.input_format, input_uri, products_uri)
    kept, quarantine, report = validate_rows(adapter, scheme, config.require_label, config.deduplicate, on_row)
    splits = split_pairs(kept, config.split_fractions, config.split_strategy, config.seed)
    stats = {name: dataset_stats(pairs) for name, pairs in splits.items()}
    with tempfile.TemporaryDirectory(prefix="relevance-distill-prepare-") as directory:
        root = Path(directory)
        for name, pairs in splits.items():
            write_jsonl(str(root / f"{name}.jsonl"), pairs)
        write_jsonl(str(root / "quarantine.jsonl"), quarantine)
        (root / "validation.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        (root / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
        (root / "label_scheme.json").write_text(scheme.model_dump_json(indent=2), encoding="utf-8")
        storage.publish_dir(root, output_uri, metadata={"stage": "prepare", "input": input_uri})
    report_result(f"prepared {sum(len(pairs) for pairs in splits.values())} pairs ("
                  + ", ".join(f"{name} {len(pairs)}" for name, pairs in splits.items())
                  + f"), {len(quarantine)} quarantined")
    return {"output_uri": output_uri, "validation": report.to_dict(), "splits": stats}


def split_uris(output_uri: str, names: tuple[str, ...] = ("train", "dev", "test")) -> dict[str, str]:
    """Where ``prepare_dataset`` published each split."""
    return {name: storage.join(output_uri, f"{name}.jsonl") for name in names}
