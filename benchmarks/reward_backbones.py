"""Which backbone the reward model's learned heads can learn on: held-out pair accuracy of each head per backbone.

    python benchmarks/reward_backbones.py --train runs/teacher-budget/data/prepared/train.jsonl \
        --backbone tiny --backbone CPT_MODEL_DIR --backbone SFT_MODEL_DIR [--profile demo] [--learning-rate 1e-3 ...]

Each backbone is trained with the profile's reward config (steps, batch, learning rate; ``--learning-rate`` repeats
the run at other rates) on the same preference pairs from the gold training split and scored on the same held-out
tenth: ``faithfulness`` (the pair's own chain over another query's chain with the same label) and ``consistency``
(the chain with its own label over the same chain with another label). Chance is 0.5; a head that only learns
which label is more often gold scores what that prior gives (0.587 on the built-in data). A backbone is ``tiny`` (a
random BERT built here) or a saved model's directory (the teacher's CPT or SFT model: ``teacher_budget.py`` and
``relevance-distill teacher`` write them). One seed per run; prints a table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _machine import machine, provenance


def main() -> None:
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.reward import train_reward_model
    from relevance_distill.teacher.stages import read_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="Gold training pairs with reasoning (prepared train.jsonl).")
    parser.add_argument("--backbone", action="append", required=True, help="'tiny' or a saved model directory.")
    parser.add_argument("--profile", default="demo", help="Teacher profile whose reward config is used.")
    parser.add_argument("--learning-rate", type=float, action="append", help="Default: the profile's.")
    parser.add_argument("--seeds", default="13", help="Comma-separated seeds (pairs, held-out tenth, heads, order).")
    parser.add_argument("--json", default="", help="Write the runs here.")
    args = parser.parse_args()

    base = teacher_config(args.profile).reward
    pairs = read_pairs(args.train)
    scheme = get_label_scheme("local_services")
    runs = []
    settings = [(backbone, learning_rate, int(seed)) for backbone in args.backbone
                for learning_rate in args.learning_rate or [base.learning_rate] for seed in args.seeds.split(",")]
    for backbone, learning_rate, seed in settings:
        config = base.model_copy(update={"init": backbone, "learning_rate": learning_rate, "seed": seed,
                                         "save_steps": base.max_steps})
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as out:
            metrics = train_reward_model(pairs, scheme, config, out)
        runs.append({"backbone": backbone, "learning_rate": learning_rate, "seed": seed, "steps": config.max_steps,
                     "batch_size": config.batch_size, "held_out_pairs": metrics["held_out_pairs"],
                     "held_out_accuracy": metrics["held_out_accuracy"],
                     "final_loss": metrics["loss_curve"][-1]["loss"], "seconds": round(time.monotonic() - started, 1)})
    print(f"{'backbone':50s} {'lr':>6s} {'seed':>4s} {'faithfulness':>13s} {'consistency':>12s} {'loss':>6s} {'s':>5s}")
    for run in runs:
        accuracy = run["held_out_accuracy"]
        print(f"{run['backbone'][-50:]:50s} {run['learning_rate']:6.0e} {run['seed']:4d} "
              f"{accuracy.get('faithfulness', float('nan')):13.3f} {accuracy.get('consistency', float('nan')):12.3f} "
              f"{run['final_loss']:6.3f} {run['seconds']:5.0f}")
    for backbone, learning_rate in dict.fromkeys((b, lr) for b, lr, _ in settings):
        group = [r["held_out_accuracy"] for r in runs
                 if (r["backbone"], r["learning_rate"]) == (backbone, learning_rate)]
        means = {head: sum(a[head] for a in group) / len(group) for head in group[0]}
        print(f"mean over {len(group)} seeds: {backbone[-50:]} lr {learning_rate:.0e}: "
              + ", ".join(f"{head} {value:.3f}" for head, value in means.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"profile": args.profile, "machine": machine(), "provenance": provenance(), "runs": runs}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
