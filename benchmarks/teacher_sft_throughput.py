"""Teacher SFT with batches grouped by length against the Trainer's plain shuffle, on the same examples, in one run.

    python benchmarks/teacher_sft_throughput.py [--steps 200] [--only builtin,crowdflower] [--json OUT]

For each dataset the `demo` teacher profile's SFT (the CPU teacher of the main job) trains ``--steps`` steps twice
through the product's own path (``teacher.sft.run_sft``), from the same tiny initialisation and seed, once with
``group_by_length`` off and once on; everything else is the profile's. ``builtin`` is the main job's built-in
training split with its chains (the dataset plugin the run uses for it); ``crowdflower`` is the split the README's
own-data command makes of ``../shared/data/crowdflower/train.csv.zip``, with label-only answers, as the run trains
when no chain is kept. Reported: the Trainer's training-loop seconds (``train_runtime``), steps per second, the
grouped ÷ plain speed-up, and the padding each order leaves in the batches (token lengths of the examples as the
tokenizer of the run cuts them, batched by ``padding.padding``: windows of 50 batches sorted by length, the window
transformers' LengthGroupedSampler sorts too). The CPU, its flags and the threads go with every figure; compare ratios, not
seconds, across machines.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _machine import flags_phrase, provenance, write_result
from own_data import load_splits, require_shared_file
from padding import padding

DATASETS = ("builtin", "crowdflower")


def training_pairs(dataset: str, directory: Path) -> tuple[list, object, str]:
    """DATASET's training pairs as the main job makes them, its label scheme and the dataset plugin for SFT."""
    if dataset == "builtin":
        from relevance_distill.builtin_world.plugin import PLUGIN as BUILTIN_WORLD
        from relevance_distill.builtin_world.prepare import prepare_builtin
        from relevance_distill.schemas import get_label_scheme
        from relevance_distill.teacher.stages import read_pairs

        splits = prepare_builtin(directory)
        return read_pairs(splits["train"]), get_label_scheme("local_services"), BUILTIN_WORLD.name
    require_shared_file(dataset)
    splits, scheme, _ = load_splits(dataset, directory)
    return splits["train"], scheme, "none"


def measure(dataset: str, steps: int, workdir: Path) -> dict:
    from transformers import AutoTokenizer

    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.sft import augmented_examples, run_sft, sft_examples

    pairs, scheme, plugin = training_pairs(dataset, workdir / "data")
    label_only = not any(pair.reasoning for pair in pairs)
    base = teacher_config("demo").sft.model_copy(update={
        "init": "tiny", "max_steps": steps, "save_steps": steps, "dataset_plugin": plugin, "give_up_checks": 0})
    entry: dict = {"pairs": len(pairs), "answers": "label_only" if label_only else "reasoning",
                   "batch_size": base.batch_size, "max_length": base.max_length, "runs": {}}
    for grouped in (False, True):
        name = "grouped" if grouped else "plain"
        print(f"{dataset}: {steps} SFT steps, {name}", flush=True)
        metrics = run_sft(base.model_copy(update={"group_by_length": grouped}), pairs, scheme, workdir / dataset / name,
                          label_only=label_only)
        seconds = metrics["train_runtime_seconds"]
        entry["runs"][name] = {"train_runtime_seconds": round(seconds, 2), "steps_per_second": round(steps / seconds, 3),
                               "final_loss": metrics["loss_curve"][-1]["loss"] if metrics["loss_curve"] else None}
    tokenizer = AutoTokenizer.from_pretrained(workdir / dataset / "plain" / "model")
    examples = augmented_examples(base, sft_examples(pairs, scheme, tokenizer, label_only))
    lengths = [min(len(tokenizer(e["prompt"] + e["completion"])["input_ids"]), base.max_length) for e in examples]
    entry["examples"] = len(examples)  # counterfactual pairs (none in the demo profile) are not among them
    entry["mean_tokens"] = round(sum(lengths) / len(lengths), 1)
    entry["padding"] = {name: round(padding(lengths, base.batch_size, base.seed, name == "grouped")["padded_share"], 3)
                        for name in ("plain", "grouped")}
    entry["speedup"] = round(entry["runs"]["grouped"]["steps_per_second"] / entry["runs"]["plain"]["steps_per_second"], 3)
    return entry


def markdown_row(document: dict) -> str:
    """The docs' table row for a result file (docs/benchmarks.md carries it; a test compares)."""
    where = document["provenance"]
    figures = " · ".join(
        f"{name} ({entry['examples']:,} examples, {entry['answers'].replace('_', '-')} answers, {entry['mean_tokens']:.0f} "
        f"tokens on average): plain {entry['runs']['plain']['steps_per_second']:.2f} steps/s, grouped "
        f"{entry['runs']['grouped']['steps_per_second']:.2f}, **{entry['speedup']:.2f} ×**; padding "
        f"{entry['padding']['plain']:.0%} → {entry['padding']['grouped']:.0%}"
        for name, entry in document["datasets"].items())
    return (f"| teacher SFT batches grouped by length against the plain shuffle (`teacher_sft_throughput.py --steps "
            f"{document['setup']['steps']}`, the {document['setup']['profile']} profile's SFT from a tiny initialisation; "
            f"{where['cpu']} ({flags_phrase(where['cpu_flags'])}), {where['threads']} threads; "
            f"one run) | {figures} |")


# teacher_budget.py's candidates that pair the demo teacher's plain SFT with its grouped one, per seed (the grouped
# candidate starts from the plain one's CPT model).
GROUPING_PAIRS = {13: ("demo", "demo_grouped"), 1: ("demo_seed1", "demo_seed1_grouped"),
                  2: ("demo_seed2", "demo_seed2_grouped")}


def grouping_quality_table(document: dict) -> str:
    """The docs' table of the demo teacher's dev macro-F1 with SFT batches grouped by length and without, per seed,
    from the runs ``teacher_budget.py --candidates … --json`` recorded in DOCUMENT (the latest run of each)."""
    latest = {run["candidate"]: run for run in document["runs"] if run.get("scored_on") == "dev"}
    lines = ["| seed | plain: dev macro-F1 (QWK) | grouped: dev macro-F1 (QWK) | grouped − plain | SFT, plain → grouped |",
             "|---|---|---|---|---|"]
    differences = []
    for seed, (plain_name, grouped_name) in GROUPING_PAIRS.items():
        if plain_name not in latest or grouped_name not in latest:
            continue
        plain, grouped = latest[plain_name], latest[grouped_name]
        differences.append(grouped["macro_f1"] - plain["macro_f1"])
        # The plain candidate's time includes its CPT; the grouped one reuses that CPT model.
        lines.append(f"| {seed} | {plain['macro_f1']:.3f} ({plain['qwk']:.3f}) | {grouped['macro_f1']:.3f} "
                     f"({grouped['qwk']:.3f}) | {differences[-1]:+.3f} | {(plain['train_seconds'] - plain['cpt_seconds']) / 60:.1f} "
                     f"→ {(grouped['train_seconds'] - grouped['cpt_seconds']) / 60:.1f} min |")
    if differences:
        lines.append(f"| mean over {len(differences)} | | | {sum(differences) / len(differences):+.3f} | |")
    machines = sorted({latest[name]["machine"] for pair in GROUPING_PAIRS.values() for name in pair if name in latest})
    return "\n".join(lines) + f"\n\n({'; '.join(machines)}; {document['runs_recorded']} runs recorded.)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", default=",".join(DATASETS), help=f"Comma-separated, of {list(DATASETS)}.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    datasets = [name.strip() for name in args.only.split(",") if name.strip()]
    if unknown := sorted(set(datasets) - set(DATASETS)):
        parser.error(f"unknown datasets {unknown}; allowed: {list(DATASETS)}")
    import torch

    document = {"setup": {"profile": "demo", "steps": args.steps}, "datasets": {},
                "provenance": provenance(threads=torch.get_num_threads())}
    with tempfile.TemporaryDirectory(prefix="rd-teacher-sft-throughput-") as directory:
        for dataset in datasets:
            document["datasets"][dataset] = measure(dataset, args.steps, Path(directory))
            entry = document["datasets"][dataset]
            print(f"{dataset}: plain {entry['runs']['plain']['steps_per_second']} steps/s, grouped "
                  f"{entry['runs']['grouped']['steps_per_second']} steps/s: {entry['speedup']:.2f}x; padding "
                  f"{entry['padding']['plain']:.0%} -> {entry['padding']['grouped']:.0%} ({entry['mean_tokens']} tokens "
                  "on average)", flush=True)
    if args.json:
        write_result(args.json, document)
    print(json.dumps(document["datasets"], indent=1))
    print(markdown_row(document))


if __name__ == "__main__":
    main()
