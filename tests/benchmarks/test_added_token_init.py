"""`benchmarks/added_token_init.py`: the variant is chosen on dev over shared seeds, the docs' table is its result
file, and the default a user's data gets is the variant that file chose."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cell(variant: str, seed: int, dev: float, test: float) -> dict:
    return {"dataset": "qbqtc", "variant": variant, "seed": seed, "best_dev_macro_f1": dev,
            "training": {"steps": 900, "best_step": 600, "train_seconds": 600.0, "selection_decoding": "ordinal"},
            "test": {"argmax": {"macro_f1": 0.0, "qwk": 0.0}, "ordinal": {"macro_f1": test, "qwk": 0.3}}}


def test_the_choice_reads_dev_only_and_waits_for_every_seed(added_token_init):
    variants = list(added_token_init.VARIANTS)
    # sampled is better on dev and worse on test: dev decides.
    cells = [_cell("mean", 1, 0.50, 0.60), _cell("sampled", 1, 0.55, 0.40)]
    summary = added_token_init.summarise(cells, variants)
    assert summary["chosen_on_dev"] == "sampled"
    assert abs(summary["paired_dev_differences"]["sampled-mean"][1] - 0.05) < 1e-12
    assert summary["variants"]["mean"]["test_macro_f1_mean"] == 0.60
    # A seed that only one variant has run yet: no choice until both have it.
    assert "chosen_on_dev" not in added_token_init.summarise(cells + [_cell("mean", 2, 0.9, 0.9)], variants)


def test_the_docs_table_is_the_result_file_and_the_default_is_its_choice(added_token_init):
    from relevance_distill.config import StudentTrainConfig

    document = json.loads((ROOT / "benchmarks" / "results" / "added_token_init.json").read_text(encoding="utf-8"))
    cells = document["cells"]
    for cell in cells:
        assert {"commit", "command", "date", "cpu", "cpu_flags", "threads", "test_set_sha256"} <= set(cell["provenance"])
        assert cell["settings"]["added_token_init"] == cell["variant"]
    # Both variants of a seed saw the same batches.
    for seed in {cell["seed"] for cell in cells}:
        orders = {cell["training"]["batch_order_sha256"] for cell in cells if cell["seed"] == seed}
        assert len(orders) == 1
    chosen = document["summary"]["chosen_on_dev"]
    assert StudentTrainConfig().added_token_init == chosen
    assert added_token_init.markdown_table(document) in (ROOT / "docs" / "student.md").read_text(encoding="utf-8")
