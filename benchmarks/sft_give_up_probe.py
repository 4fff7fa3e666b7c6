"""Where would the SFT give-up checks stop the demo teacher? CPT and SFT of the `demo` teacher profile, as the main
job runs them, on the built-in data or on a labelled file of yours (the main job's split), with the checks recorded
but never acted on.

    python benchmarks/sft_give_up_probe.py --steps 500 --json benchmarks/results/sft_give_up_probe.json
    python benchmarks/sft_give_up_probe.py --labeled ../shared/data/crowdflower/train.csv.zip --format crowdflower \\
        --steps 1500 --json benchmarks/results/sft_give_up_probe_crowdflower.json

Each check labels the first 200 gold dev pairs greedily and records the macro-F1 and how many distinct labels the
model answered. A check that found one label (or none) for every pair counts toward giving up; the result says at
which step a profile with ``give_up_checks`` N would have stopped. One run per file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from relevance_distill.config import (
    DEFAULT_SCHEME_FOR_FORMAT,
    DataGenerationConfig,
    PrepareDataConfig,
)
from relevance_distill.data.prepare import prepare_dataset
from relevance_distill.data.readers import read_models
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.profiles import teacher_config
from relevance_distill.teacher.stages import cpt_step, sft_step

RESULTS = Path(__file__).resolve().parent / "results"
#: The result files docs/teacher.md's table is generated from: the built-in data and the README's two own-data files.
RESULT_FILES = ("sft_give_up_probe.json", "sft_give_up_probe_crowdflower.json", "sft_give_up_probe_qbqtc.json")


def markdown_table(documents: list[dict]) -> str:
    """One row per probe: the data, the machine, the majority class, every check's dev macro-F1 with the number of
    distinct labels answered, and where the demo profile's give-up would have stopped."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import flags_phrase

    demo_checks = teacher_config("demo").sft.give_up_checks
    lines = ["| data | machine | majority class | dev macro-F1 at each check (labels answered) | demo profile stops at |",
             "|---|---|---|---|---|"]
    for document in documents:
        setup, where = document["setup"], document["provenance"]
        checks = ", ".join(f"{c['step']}: {c['dev_macro_f1']:.3f} ({c['distinct_labels']})" for c in document["checks"])
        stop = document["would_stop_at_step"].get(f"give_up_checks={demo_checks}")
        data = "built-in" if setup["data"] == "built-in" else f"{setup['format']} (`{setup['data']}`)"
        stops = f"step {stop}" if stop else f"never (trained {setup['steps']} steps)"
        lines.append(f"| {data} | {where['cpu']}, {flags_phrase(where['cpu_flags'])}, commit {where['commit'][:7]} | "
                     f"{document['majority_macro_f1']:.3f} | {checks} | {stops} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500, help="SFT steps to train (the demo profile trains 1,500).")
    parser.add_argument("--every", type=int, default=250, help="Steps between two checks.")
    parser.add_argument("--labeled", default="", help="Your labelled file (as `relevance-distill run --labeled`); "
                        "default: the built-in data.")
    parser.add_argument("--format", default="jsonl", choices=sorted(DEFAULT_SCHEME_FOR_FORMAT),
                        help="Format of --labeled.")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--table", action="store_true", help="Print docs/teacher.md's table from the result files "
                        "(RESULT_FILES) and exit.")
    args = parser.parse_args()
    if args.table:
        print(markdown_table([json.loads((RESULTS / name).read_text(encoding="utf-8")) for name in RESULT_FILES]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance

    record = provenance()
    config = teacher_config("demo")
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        corpus = ""
        if args.labeled:
            scheme = get_label_scheme(DEFAULT_SCHEME_FOR_FORMAT[args.format])
            prepare = PrepareDataConfig(input_format=args.format, label_scheme=scheme.name)
            prepare_dataset(args.labeled, str(out / "prepared"), prepare)
            sft = config.sft
        else:
            # Only the built-in data's run imports the built-in world.
            from relevance_distill.builtin_world.generate import generate_dataset
            from relevance_distill.builtin_world.plugin import PLUGIN as BUILTIN_WORLD

            scheme = get_label_scheme("local_services")
            generate_dataset(DataGenerationConfig(num_log_pairs=0), out / "raw")
            prepare_dataset(str(out / "raw" / "labeled.jsonl"), str(out / "prepared"), PrepareDataConfig())
            corpus = str(out / "raw" / "corpus.jsonl")
            sft = config.sft.model_copy(update={"dataset_plugin": BUILTIN_WORLD.name})
        train = read_models(str(out / "prepared" / "train.jsonl"), QueryServicePair)
        dev = read_models(str(out / "prepared" / "dev.jsonl"), QueryServicePair)
        cpt = cpt_step(config.cpt, corpus, str(out / "cpt"), scheme, train_pairs=train)
        # Checks recorded, never acted on: more checks in a row than the run has.
        sft = sft.model_copy(update={"max_steps": args.steps, "give_up_checks": args.steps + 1,
                                     "give_up_check_every_steps": args.every})
        give_up = sft_step(sft, train, scheme, str(out / "sft"), cpt["model_uri"], dev_pairs=dev)["metrics"]["give_up"]
    streak, stops = 0, {}
    for check in give_up["checks"]:
        streak = streak + 1 if check["collapsed"] else 0
        stops.setdefault(str(streak), check["step"]) if streak else None
    document = {"setup": {"profile": "demo", "data": args.labeled or "built-in", "format": args.format,
                          "steps": args.steps, "every": args.every, "pairs": give_up["pairs"]},
                "majority_macro_f1": give_up["majority_macro_f1"], "checks": give_up["checks"],
                "would_stop_at_step": {f"give_up_checks={n}": step for n, step in stops.items()},
                "provenance": record}
    print(json.dumps({key: document[key] for key in ("majority_macro_f1", "checks", "would_stop_at_step")}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
