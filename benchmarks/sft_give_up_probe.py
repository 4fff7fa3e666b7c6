"""Would the SFT give-up checks stop the demo teacher on the built-in data? CPT and SFT of the `demo` teacher profile
on the built-in data (the main job's split), with the checks recorded but never acted on.

    python benchmarks/sft_give_up_probe.py --steps 500 --json benchmarks/results/sft_give_up_probe.json

A check at or below the majority class's macro-F1 on the dev pairs counts toward giving up; the result says at
which step a profile with ``give_up_checks`` N would have stopped. One run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.builtin_world.plugin import PLUGIN as BUILTIN_WORLD
from relevance_distill.config import DataGenerationConfig, PrepareDataConfig
from relevance_distill.data.prepare import prepare_dataset
from relevance_distill.data.readers import read_models
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.cpt import run_cpt
from relevance_distill.teacher.profiles import teacher_config
from relevance_distill.teacher.sft import run_sft
from relevance_distill.teacher.stages import tokenizer_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500, help="SFT steps to train (the demo profile trains 1,500).")
    parser.add_argument("--every", type=int, default=250, help="Steps between two checks.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance

    record = provenance()
    scheme = get_label_scheme("local_services")
    config = teacher_config("demo")
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        generate_dataset(DataGenerationConfig(num_log_pairs=0), out / "raw")
        prepare_dataset(str(out / "raw" / "labeled.jsonl"), str(out / "prepared"), PrepareDataConfig())
        train = read_models(str(out / "prepared" / "train.jsonl"), QueryServicePair)
        dev = read_models(str(out / "prepared" / "dev.jsonl"), QueryServicePair)
        cpt = config.cpt.model_copy(update={"tokenizer_texts": tokenizer_texts(train, scheme)})
        run_cpt(cpt, str(out / "raw" / "corpus.jsonl"), out / "cpt")
        # Checks recorded, never acted on: more checks in a row than the run has.
        sft = config.sft.model_copy(update={"max_steps": args.steps, "give_up_checks": args.steps + 1,
                                           "give_up_check_every_steps": args.every,
                                           "dataset_plugin": BUILTIN_WORLD.name})
        give_up = run_sft(sft, train, scheme, out / "sft", init_uri=str(out / "cpt" / "model"), dev_pairs=dev)["give_up"]
    streak, stops = 0, {}
    for check in give_up["checks"]:
        streak = streak + 1 if check["dev_macro_f1"] <= give_up["majority_macro_f1"] else 0
        stops.setdefault(str(streak), check["step"]) if streak else None
    document = {"setup": {"profile": "demo", "steps": args.steps, "every": args.every, "pairs": give_up["pairs"]},
                "majority_macro_f1": give_up["majority_macro_f1"], "checks": give_up["checks"],
                "would_stop_at_step": {f"give_up_checks={n}": step for n, step in stops.items()},
                "provenance": record}
    print(json.dumps({key: document[key] for key in ("majority_macro_f1", "checks", "would_stop_at_step")}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
