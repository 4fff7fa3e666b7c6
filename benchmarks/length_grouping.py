"""Does grouping training batches by length cost dev quality? Paired seeds, grouped against a plain shuffle.

    python benchmarks/length_grouping.py [--seeds 0,1,2] [--method gold_only] [--profile demo] [--json OUT]
    python benchmarks/length_grouping.py --splits RUN/prepared --scheme crowdflower --profile full --max-steps 400

Trains METHOD once per seed with ``group_by_length`` on and once with it off (everything else equal: pairs, initial
weights, budget, threads) and records each run's best dev macro-F1, its step and the optimisation seconds. Without
``--splits`` the built-in data's gold pairs are used (the first 320 as dev); with it, the ``train.jsonl`` and
``dev.jsonl`` a run prepared (``WORKDIR/prepared``). Only dev is read: this chooses a default, it reports nothing
on test. Printed and written: both means, the per-seed paired differences (grouped − plain) with their mean and
range, and the ratio of optimisation time, with provenance.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path


def splits(directory: Path | None, scheme_name: str) -> tuple[list, list, object]:
    from _builtin_pairs import builtin_labelled_pairs

    from relevance_distill.data.readers import read_models
    from relevance_distill.schemas import QueryServicePair, get_label_scheme

    scheme = get_label_scheme(scheme_name)
    if directory is not None:
        return (read_models(str(directory / "train.jsonl"), QueryServicePair),
                read_models(str(directory / "dev.jsonl"), QueryServicePair), scheme)
    pairs = builtin_labelled_pairs()
    return pairs[320:], pairs[:320], scheme


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=Path, help="a run's prepared directory (train.jsonl, dev.jsonl)")
    parser.add_argument("--scheme", default="local_services", help="label scheme of the splits")
    parser.add_argument("--method", default="gold_only")
    parser.add_argument("--profile", default="demo", help="student profile (the budget unless --max-steps)")
    parser.add_argument("--max-steps", type=int, help="a step budget instead of the profile's")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance, write_result

    from relevance_distill.config import student_config_for
    from relevance_distill.student.train import train_student

    train, dev, scheme = splits(args.splits, args.scheme)
    overrides = {"method": args.method, "resume": False}
    if args.max_steps:
        overrides["max_steps"] = args.max_steps
    config = student_config_for(args.profile, **overrides)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    runs: dict[str, dict[str, dict]] = {"grouped": {}, "plain": {}}
    with tempfile.TemporaryDirectory() as name:
        for seed in seeds:
            for setting, grouped in (("grouped", True), ("plain", False)):
                result = train_student(config.model_copy(update={"seed": seed, "group_by_length": grouped}), scheme,
                                       train, dev, Path(name) / f"{setting}-{seed}")
                runs[setting][str(seed)] = {key: result[key] for key in
                                            ("best_dev_macro_f1", "best_step", "steps", "train_seconds", "stop_reason")}
    differences = [runs["grouped"][str(s)]["best_dev_macro_f1"] - runs["plain"][str(s)]["best_dev_macro_f1"] for s in seeds]
    summary = {
        "mean_dev_macro_f1": {setting: statistics.mean(r["best_dev_macro_f1"] for r in runs[setting].values())
                              for setting in runs},
        "paired_difference_grouped_minus_plain": {"per_seed": differences, "mean": statistics.mean(differences),
                                                  "min": min(differences), "max": max(differences)},
        "train_seconds_plain_over_grouped": sum(r["train_seconds"] for r in runs["plain"].values())
        / sum(r["train_seconds"] for r in runs["grouped"].values()),
    }
    print(f"{args.method} on {args.splits or 'the built-in data'} ({len(train)} train / {len(dev)} dev pairs), "
          f"seeds {seeds}: dev macro-F1 grouped {summary['mean_dev_macro_f1']['grouped']:.4f}, plain "
          f"{summary['mean_dev_macro_f1']['plain']:.4f}; grouped − plain per seed "
          f"{', '.join(f'{d:+.4f}' for d in differences)} (mean {summary['paired_difference_grouped_minus_plain']['mean']:+.4f}); "
          f"plain ÷ grouped optimisation time {summary['train_seconds_plain_over_grouped']:.2f}")
    if args.json:
        document = {"setup": {"splits": str(args.splits) if args.splits else "builtin", "scheme": args.scheme,
                              "method": args.method, "profile": args.profile, "max_steps": config.max_steps,
                              "epochs": config.epochs, "seeds": seeds, "train_pairs": len(train), "dev_pairs": len(dev)},
                    "runs": runs, "summary": summary, "provenance": provenance()}
        write_result(args.json, document)


if __name__ == "__main__":
    main()
