"""Training throughput of the students against the usual alternative, in one run on this machine.

    python benchmarks/train_throughput.py [--steps 30] [--profile demo] [--json OUT]

Samples per second of optimisation (data collation, forward, backward, optimizer; dev evaluation excluded) for
``gold_only``, ``vanilla``, ``crsd_no_verdict`` and ``crsd_chain_view`` (its reasoning view without the service text)
trained by our trainer (``student.train.train_student``, the path a
run takes) at the profile's settings, and for the same model (the packaged MiniLM with the same classifier head),
pairs, batch size, sequence length, learning-rate schedule, threads and precision fine-tuned by the Hugging Face
``Trainer`` with ``DataCollatorWithPadding``, what a user would otherwise write. Both are measured with batches of
similar length (our ``group_by_length`` default; the Trainer's ``train_sampling_strategy="group_by_length"``) and
with a plain shuffle (``_plain``: our ``group_by_length: false``; the Trainer's default). The built-in data's gold
pairs, with their reasoning chains standing in for the teacher's, feed every method. Ratios are printed and written with the
CPU model, its flags and the thread count (``benchmarks/_machine.provenance``): compare only figures of one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from relevance_distill.config import student_config_for
from relevance_distill.schemas import Annotation, QueryServicePair, get_label_scheme
from relevance_distill.student.train import train_student

METHODS = ("gold_only", "vanilla", "crsd_no_verdict", "crsd_chain_view")
# The distilled students whose time per sample the issue bounds against vanilla's (target at most 2.1).
REASONING_METHODS = ("crsd_no_verdict", "crsd_chain_view")
TARGET_TIME_OVER_VANILLA = 2.1


def stand_in_annotations(pairs: list[QueryServicePair]) -> dict[str, Annotation]:
    """The gold label and the generator's reasoning chain as the teacher's annotation of each pair."""
    return {pair.pair_id: Annotation(pair_id=pair.pair_id, label=pair.label, reasoning=pair.reasoning or pair.label,
                                     confidence=1.0, votes={pair.label: 1.0}, teacher_version="benchmark")
            for pair in pairs if pair.label is not None}


def ours(method: str, config, scheme, train, dev, annotations, directory: Path, grouped: bool = True) -> dict:
    name = method if grouped else f"{method}_plain"
    result = train_student(config.model_copy(update={"method": method, "group_by_length": grouped}), scheme, train,
                           dev, directory / name, annotations)
    seconds = result["train_seconds"]  # optimisation only: the trainer keeps dev evaluation out of it
    return {"steps": result["steps"], "train_seconds": seconds,
            "samples_per_second": result["steps"] * config.batch_size / seconds}


def hf_trainer(config, scheme, train, directory: Path, grouped: bool) -> dict:
    """The same model and pairs through transformers.Trainer (what a user would otherwise write)."""
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from relevance_distill.student.model import load_classifier

    texts = [t for p in train for t in (p.query, p.service.to_text())]
    classifier, tokenizer = load_classifier(config.init, scheme, texts, seed=config.seed)
    rows = {"query": [p.query for p in train], "service": [p.service.to_text() for p in train],
            "label": [scheme.index(p.label) for p in train]}

    def tokenize(batch):
        return tokenizer(batch["query"], batch["service"], truncation="only_second", max_length=config.max_length)

    dataset = Dataset.from_dict(rows).map(tokenize, batched=True, remove_columns=["query", "service"])
    arguments = TrainingArguments(
        output_dir=str(directory / f"hf-{grouped}"), train_sampling_strategy="group_by_length" if grouped else "random",
        per_device_train_batch_size=config.batch_size, max_steps=config.max_steps,
        learning_rate=config.learning_rate, weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * config.max_steps),
        max_grad_norm=config.max_grad_norm, lr_scheduler_type="linear", logging_strategy="no", save_strategy="no",
        report_to=[], use_cpu=True, bf16=amp_active(config), dataloader_num_workers=0, seed=config.seed,
        disable_tqdm=True)
    trainer = Trainer(model=classifier, args=arguments, train_dataset=dataset,
                      data_collator=DataCollatorWithPadding(tokenizer))
    began = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - began
    return {"steps": config.max_steps, "train_seconds": seconds,
            "samples_per_second": config.max_steps * config.batch_size / seconds}


def amp_active(config) -> bool:
    """Whether our trainer autocasts to bf16 here (config.amp and a CPU that runs bf16 natively); the HF Trainer is
    given the same precision."""
    from relevance_distill.student.train import native_bf16

    return bool(config.amp and native_bf16(torch.device("cpu")))


def markdown_row(document: dict) -> str:
    """The docs' table row for a result file (docs/benchmarks.md carries it; a test compares)."""
    from _machine import flags_phrase

    setup, rate, ratios = document["setup"], document["samples_per_second"], document["ratios"]
    where = document["provenance"]
    return (f"| training throughput (`train_throughput.py --steps {setup['steps']}`, {setup['profile']} settings: "
            f"{setup['init']}, batch {setup['batch_size']}, {setup['max_length']}/{setup['reasoning_max_length']} tokens, "
            f"bf16 autocast {'on' if setup['bf16_autocast'] else 'off'}; {where['cpu']} ({flags_phrase(where['cpu_flags'])}), "
            f"{where['threads']} threads; one run) | samples/s with batches grouped by length (with a plain shuffle): "
            f"HF `Trainer` {rate['hf_trainer']:.1f} ({rate['hf_trainer_plain']:.1f}) · gold_only {rate['gold_only']:.1f} "
            f"({rate['gold_only_plain']:.1f}) · vanilla {rate['vanilla']:.1f} ({rate['vanilla_plain']:.1f}) · "
            + " · ".join(f"{method} {rate[method]:.1f} ({rate[f'{method}_plain']:.1f})" for method in REASONING_METHODS)
            + f"; gold_only ÷ HF Trainer **{ratios['gold_only_over_hf_trainer']:.2f}** both grouped, "
            f"{ratios['gold_only_over_hf_trainer_plain']:.2f} over the Trainer's default (target ≥ 1); time per sample ÷ "
            f"vanilla's (target ≤ {TARGET_TIME_OVER_VANILLA:g}): "
            + ", ".join(f"{method} **{ratios[f'{method}_time_per_sample_over_vanilla']:.2f}** ("
                        f"{'met' if ratios[f'{method}_time_per_sample_over_vanilla'] <= TARGET_TIME_OVER_VANILLA else 'not met'})"
                        for method in REASONING_METHODS) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per method")
    parser.add_argument("--profile", default="demo", help="student profile (sequence lengths, batch, init)")
    parser.add_argument("--no-amp", action="store_true", help="fp32 everywhere (else bf16 autocast where the CPU has it)")
    parser.add_argument("--json", type=Path, help="write the figures and their provenance here")
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _builtin_pairs import builtin_labelled_pairs
    from _machine import provenance, write_result

    config = student_config_for(args.profile, max_steps=args.steps, eval_every_steps=args.steps, resume=False,
                                amp=not args.no_amp, early_stopping_patience=0)
    scheme = get_label_scheme("local_services")
    pairs = builtin_labelled_pairs()
    dev, train = pairs[:64], pairs[64:]
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        annotations = stand_in_annotations(train)
        results = {"hf_trainer": hf_trainer(config, scheme, train, directory, grouped=True),
                   "hf_trainer_plain": hf_trainer(config, scheme, train, directory, grouped=False)}
        for grouped in (True, False):
            results.update({method if grouped else f"{method}_plain":
                            ours(method, config, scheme, train, dev, annotations, directory, grouped)
                            for method in METHODS})
    for method, figures in results.items():
        print(f"{method:22s} {figures['samples_per_second']:8.1f} samples/s ({figures['steps']} steps in "
              f"{figures['train_seconds']:.1f} s)")
    rate = {method: figures["samples_per_second"] for method, figures in results.items()}
    ratios = {"gold_only_over_hf_trainer": rate["gold_only"] / rate["hf_trainer"],
              "gold_only_over_hf_trainer_plain": rate["gold_only"] / rate["hf_trainer_plain"],
              **{f"{method}_time_per_sample_over_vanilla": rate["vanilla"] / rate[method] for method in REASONING_METHODS},
              **{f"{method}_grouped_over_plain": rate[method] / rate[f"{method}_plain"] for method in METHODS}}
    print(f"gold_only ÷ HF Trainer samples/s: {ratios['gold_only_over_hf_trainer']:.2f} with both grouped by length, "
          f"{ratios['gold_only_over_hf_trainer_plain']:.2f} over the Trainer's default (target >= 1); time per sample ÷ "
          f"vanilla's (target <= {TARGET_TIME_OVER_VANILLA:g}): "
          + ", ".join(f"{method} {ratios[f'{method}_time_per_sample_over_vanilla']:.2f}" for method in REASONING_METHODS)
          + "; length-grouped ÷ plain samples/s: "
          + ", ".join(f"{method} {ratios[f'{method}_grouped_over_plain']:.2f}" for method in METHODS))
    if args.json:
        document = {"setup": {"profile": args.profile, "steps": args.steps, "batch_size": config.batch_size,
                              "max_length": config.max_length, "reasoning_max_length": config.reasoning_max_length,
                              "init": config.init, "bf16_autocast": amp_active(config), "train_pairs": len(train)},
                    "samples_per_second": rate,
                    "runs": results, "ratios": ratios,
                    "provenance": provenance(threads=torch.get_num_threads())}
        write_result(args.json, document)


if __name__ == "__main__":
    main()
