"""How the student's added characters start, measured where it matters: a Chinese data set on the English MiniLM.

    python benchmarks/added_token_init.py --json benchmarks/results/added_token_init.json
                                          [--dataset qbqtc] [--variants mean,sampled] [--seeds 13,14]

The packaged MiniLM's vocabulary maps 74 % of QBQTC's Chinese characters to [UNK]
(``benchmarks/results/cjk_vocabulary.json``), so the student adds them (``extend_vocabulary``). With
``added_token_init: mean`` every added row starts at the mean of the pretrained rows, and the added characters are
indistinguishable at the start: the model cannot see that a query character recurs in the title until training
has pulled the rows apart. ``sampled`` draws each added row from the pretrained rows' mean and covariance.

Each cell trains the gold-only student (the student every run trains, the one a CPU run on this data publishes)
with the ``full`` student profile a user's data gets, on the main job's splits of the README's command
(``own_data.load_splits``), changing nothing but ``added_token_init`` and the seed; both variants of a seed see the
same batches (``batch_order_sha256``). The variant with the higher mean best dev macro-F1 under the selection
decoding is chosen (dev only); each cell's best checkpoint is then read once on test. Cells are written to the JSON
as they finish and skipped when it already holds them (same seed, variant, dataset and settings), so a run can be
resumed. Few seeds: the spread across them is shown, and a difference smaller than it is no finding.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import get_args

from _machine import flags_phrase, provenance, write_result
from own_data import COMMANDS, load_splits, require_shared_file

from relevance_distill.config import AddedTokenInit

VARIANTS = get_args(AddedTokenInit)


def train_cell(dataset: str, variant: str, seed: int, splits: dict, scheme, workdir: Path) -> dict:
    from relevance_distill.config import student_config_for
    from relevance_distill.evaluation.evaluate import evaluate_student
    from relevance_distill.student.compare import train_methods

    config = student_config_for("full", added_token_init=variant, seed=seed)
    output = workdir / dataset / f"{variant}-seed{seed}"
    print(f"{dataset}: added_token_init={variant}, seed {seed}", flush=True)
    result = train_methods(["gold_only"], config, scheme, splits["train"], splits["dev"], output)["gold_only"]
    history = json.loads((output / "gold_only" / "history.json").read_text(encoding="utf-8"))
    test = evaluate_student(result["best_model_dir"], splits["test"], scheme, latency_requests=0)
    report = test["test"]
    return {
        "dataset": dataset, "variant": variant, "seed": seed,
        "settings": config.model_dump(mode="json", exclude={"num_threads", "device", "resume"}),
        "training": {key: result[key] for key in ("steps", "epochs", "best_step", "stop_reason", "train_seconds",
                                                  "selection_decoding", "batch_order_sha256") if key in result},
        "best_dev_macro_f1": result["best_dev_macro_f1"],
        "evals": [{"step": e["step"], "argmax": round(e["dev_macro_f1"], 4), "ordinal": round(e["dev_macro_f1_ordinal"], 4)}
                  for e in history["evals"]],
        "test": {"argmax": {"macro_f1": report["macro_f1"], "qwk": report["qwk"]},
                 "ordinal": {key: report["ordinal"][key] for key in ("macro_f1", "qwk")} if "ordinal" in report else None},
        "test_set_sha256": test["test_set_sha256"],
        "provenance": provenance(test["test_set_sha256"], threads=_threads()),
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def selection_decoding(cell: dict) -> str:
    return cell["training"].get("selection_decoding", "ordinal")


def served_test(cell: dict) -> dict:
    """The cell's test figures under the decoding it was selected by (argmax where the scheme has no ordinal)."""
    return cell["test"][selection_decoding(cell)] or cell["test"]["argmax"]


def summarise(cells: list[dict], variants: list[str]) -> dict:
    """Mean and spread of best dev per variant, the dev choice, and per-seed paired dev differences."""
    by_variant = {v: {c["seed"]: c for c in cells if c["variant"] == v} for v in variants}
    summary: dict = {"variants": {}}
    for variant, seeds in by_variant.items():
        dev = [c["best_dev_macro_f1"] for c in seeds.values()]
        decoding = selection_decoding(next(iter(seeds.values()))) if seeds else "ordinal"
        tests = [served_test(c) for c in seeds.values()]
        summary["variants"][variant] = {
            "seeds": sorted(seeds), "dev_macro_f1_mean": statistics.fmean(dev) if dev else None,
            "dev_macro_f1_range": [min(dev), max(dev)] if dev else None,
            "test_macro_f1_mean": statistics.fmean(t["macro_f1"] for t in tests) if tests else None,
            "test_qwk_mean": statistics.fmean(t["qwk"] for t in tests) if tests else None,
            "decoding": decoding}
    shared = sorted(set.intersection(*(set(s) for s in by_variant.values()))) if by_variant else []
    if len(variants) == 2 and shared:
        first, second = variants
        summary["paired_dev_differences"] = {
            f"{second}-{first}": {seed: by_variant[second][seed]["best_dev_macro_f1"] - by_variant[first][seed]["best_dev_macro_f1"]
                                  for seed in shared}}
    complete = {v: s for v, s in summary["variants"].items() if s["dev_macro_f1_mean"] is not None}
    if len(complete) == len(variants) and shared and all(set(s["seeds"]) == set(shared) for s in complete.values()):
        summary["chosen_on_dev"] = max(complete, key=lambda v: complete[v]["dev_macro_f1_mean"])
    return summary


def markdown_table(document: dict) -> str:
    """The docs' table for a result file (docs/student.md carries it; a test compares)."""
    lines = ["| data | added_token_init | seed | steps (best) | training | best dev macro-F1 | test macro-F1 | test QWK |",
             "|---|---|---|---|---|---|---|---|"]
    for cell in sorted(document["cells"], key=lambda c: (c["dataset"], c["seed"], c["variant"])):
        test, training = served_test(cell), cell["training"]
        lines.append(f"| {cell['dataset']} | {cell['variant']} | {cell['seed']} | {training['steps']} "
                     f"({training['best_step']}) | {training['train_seconds'] / 60:.1f} min | "
                     f"{cell['best_dev_macro_f1']:.3f} | {test['macro_f1']:.3f} | {test['qwk']:.3f} |")
    summary = document.get("summary", {})
    for variant, figures in summary.get("variants", {}).items():
        if figures["dev_macro_f1_mean"] is not None:
            lines.append(f"| mean | {variant} | {', '.join(map(str, figures['seeds']))} | | | "
                         f"**{figures['dev_macro_f1_mean']:.3f}** | {figures['test_macro_f1_mean']:.3f} | "
                         f"{figures['test_qwk_mean']:.3f} |")
    where = document["cells"][0]["provenance"] if document["cells"] else {}
    for name, by_seed in summary.get("paired_dev_differences", {}).items():
        lines.append("")
        lines.append(f"Paired dev differences {name} by seed: "
                     + ", ".join(f"{seed}: {difference:+.3f}" for seed, difference in by_seed.items())
                     + f". Chosen on dev: **{summary.get('chosen_on_dev', 'not yet (a seed lacks a variant)')}**. "
                     f"Decoding: {next(iter(summary['variants'].values()))['decoding']} (the gate's for this scheme); "
                     f"{where['machine']} ({flags_phrase(where['cpu_flags'])}), "
                     f"{where['threads']} threads.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="qbqtc", choices=sorted(COMMANDS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="13,14")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    variants, seeds = args.variants.split(","), [int(s) for s in args.seeds.split(",")]
    if unknown := sorted(set(variants) - set(VARIANTS)):
        parser.error(f"unknown variants {unknown}; allowed: {list(VARIANTS)}")
    require_shared_file(args.dataset)
    document = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {"cells": []}
    done = {(c["dataset"], c["variant"], c["seed"]) for c in document["cells"]}
    with tempfile.TemporaryDirectory(prefix="rd-added-token-") as workdir:
        splits, scheme, _ = load_splits(args.dataset, Path(workdir) / "data")
        for seed in seeds:
            for variant in variants:
                if (args.dataset, variant, seed) in done:
                    print(f"{args.dataset}: {variant}, seed {seed} already in {args.json}", flush=True)
                    continue
                document["cells"].append(train_cell(args.dataset, variant, seed, splits, scheme, Path(workdir)))
                document["summary"] = summarise([c for c in document["cells"] if c["dataset"] == args.dataset],
                                                list(VARIANTS))
                write_result(args.json, document)
    print(markdown_table(document))
    print(json.dumps(document.get("summary", {}), indent=2))


if __name__ == "__main__":
    sys.exit(main())
