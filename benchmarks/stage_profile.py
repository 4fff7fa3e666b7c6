"""Where a student training step's time goes on this CPU: data, forward, backward, optimizer, and dev evaluation.

    python benchmarks/stage_profile.py [--steps 12] [--profile demo] [--json OUT]

For ``gold_only``, ``vanilla`` and ``crsd_no_verdict`` at the profile's settings (the packaged MiniLM, its batch
size and sequence budgets, built-in gold pairs with their chains standing in for the teacher's), every optimizer
step is split into collation (data), the forward pass and loss, the backward pass, and AdamW's update; one dev
evaluation (the standard view over the dev pairs, what the trainer runs every ``eval_every_steps``) is timed
apart. Each method runs in fp32 and, where the CPU has native bf16 (AVX512-BF16 or AMX), under bf16 autocast as
the trainer does: fp32 is what a CPU without bf16 runs. The process is set up as a training step sets itself up
(``devices.choose_device('cpu', …)``: threads fitted to the container, freed memory kept for the next step). Medians
over the steps after two warm-up steps, with the CPU's flags and thread count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from relevance_distill.config import student_config_for
from relevance_distill.encoding import ViewEncoder, collate
from relevance_distill.evaluation.evaluate import predict_probabilities
from relevance_distill.schemas import get_label_scheme
from relevance_distill.student.crsd import CRSDWeights
from relevance_distill.student.model import StudentModel, load_classifier
from relevance_distill.student.train import (
    build_examples,
    method_loss,
    native_bf16,
    training_batches,
    without_verdict,
)

METHODS = ("gold_only", "vanilla", "crsd_no_verdict")
PHASES = ("data", "forward", "backward", "optimizer")


class StudentSteps:
    """METHOD's student set up as the trainer sets it up (the profile's model, views, AdamW, targets), stepped one
    optimizer step at a time; ``step`` returns the seconds of each phase (PHASES), which together are the step."""

    def __init__(self, method: str, config, scheme, examples) -> None:
        self.method = method
        reasonings = [without_verdict(e.reasoning)[0] if method == "crsd_no_verdict" else e.reasoning for e in examples]
        texts = [t for e in examples for t in (e.pair.query, e.pair.service.to_text(), e.reasoning)]
        classifier, tokenizer = load_classifier(config.init, scheme, texts, seed=0)
        self.model = StudentModel(classifier, config.projection_dim).train()
        self.encoder = ViewEncoder(tokenizer, config.max_length, config.reasoning_max_length)
        self.standard, self.reasoning = self.encoder.encode_pairs([e.pair for e in examples], reasonings)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate)
        self.targets = torch.tensor([scheme.index(e.label) for e in examples])
        self.soft = torch.tensor([e.soft_target for e in examples])

    def step(self, rows: list[int], bf16: bool) -> dict[str, float]:
        began = time.perf_counter()
        batch = collate([self.standard[i] for i in rows], self.encoder.pad_id)
        batch_r = (collate([self.reasoning[i] for i in rows], self.encoder.pad_id) if self.method.startswith("crsd")
                   else None)
        collated = time.perf_counter()
        self.model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = method_loss(self.model, self.method, CRSDWeights(), batch, batch_r, self.targets[rows],
                               self.soft[rows])["loss"]
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        done = time.perf_counter()
        return dict(zip(PHASES, (collated - began, forward - collated, backward - forward, done - backward)))


def profile_method(method: str, config, scheme, examples, dev_pairs, steps: int, warmup: int, bf16: bool) -> dict:
    student = StudentSteps(method, config, scheme, examples)
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for step, rows in enumerate(training_batches(config, student.standard, warmup + steps)):
        seconds = student.step(rows, bf16)
        if step >= warmup:
            for phase in PHASES:
                phases[phase].append(seconds[phase])
    began = time.perf_counter()
    predict_probabilities(student.model.classifier_model, student.encoder, dev_pairs)
    evaluation = time.perf_counter() - began
    median = {phase: statistics.median(values) * 1000 for phase, values in phases.items()}
    return {"ms_per_step": median, "step_ms": sum(median.values()), "dev_evaluation_s": evaluation,
            "dev_pairs": len(dev_pairs)}


def limited(where: dict) -> str:
    """How the run kept the math libraries to an older instruction set (``_machine.isa_limits``), if it did."""
    limits = where.get("isa_limits") or {}
    return (" limited to " + ", ".join(f"{name}={value}" for name, value in limits.items())) if limits else ""


def markdown_table(document: dict) -> str:
    """The docs' table for a result file (docs/benchmarks.md carries it; a test compares)."""
    from _machine import flags_phrase

    setup, where = document["setup"], document["provenance"]
    lines = [f"Student step profile (`stage_profile.py --steps {setup['steps']}`, {setup['profile']} settings: "
             f"batch {setup['batch_size']}, {setup['max_length']}/{setup['reasoning_max_length']} tokens; "
             f"{where['cpu']} ({flags_phrase(where['cpu_flags'])}){limited(where)}, "
             f"{where['threads']} threads; medians of one run), ms per optimizer step:", "",
             "| method | precision | data | forward | backward | optimizer | step | dev evaluation |",
             "|---|---|---|---|---|---|---|---|"]
    for key, result in document["results"].items():
        method, precision = key.split("/")
        ms = result["ms_per_step"]
        lines.append(f"| {method} | {precision} | {ms['data']:.0f} | {ms['forward']:.0f} | {ms['backward']:.0f} | "
                     f"{ms['optimizer']:.0f} | {result['step_ms']:.0f} | {result['dev_evaluation_s']:.1f} s "
                     f"({result['dev_pairs']} pairs) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _builtin_pairs import builtin_labelled_pairs
    from _machine import provenance

    from relevance_distill.devices import choose_device

    choose_device("cpu", "stage profile")
    config = student_config_for(args.profile)
    scheme = get_label_scheme("local_services")
    pairs = builtin_labelled_pairs()
    dev_pairs, train_pairs = pairs[:320], pairs[320:]
    examples, _ = build_examples(train_pairs, scheme)
    precisions = ["fp32"] + (["bf16"] if native_bf16(torch.device("cpu")) else [])
    results = {}
    for method in METHODS:
        for precision in precisions:
            result = profile_method(method, config, scheme, examples, dev_pairs, args.steps, args.warmup,
                                    precision == "bf16")
            results[f"{method}/{precision}"] = result
            print(f"{method:16s} {precision}: " + ", ".join(f"{p} {ms:.0f} ms" for p, ms in result["ms_per_step"].items())
                  + f"; step {result['step_ms']:.0f} ms; dev evaluation {result['dev_evaluation_s']:.1f} s")
    document = {"setup": {"profile": args.profile, "steps": args.steps, "batch_size": config.batch_size,
                          "max_length": config.max_length, "reasoning_max_length": config.reasoning_max_length},
                "results": results, "provenance": provenance(threads=torch.get_num_threads())}
    print(markdown_table(document))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
