"""AdamW's fused kernel against torch's default multi-tensor one, on the default student (the packaged MiniLM with its
projection head, as ``train_student`` builds it): seconds per optimizer step, their ratio, the share of a whole
training step each takes, and how far the two kernels' parameters drift apart over the same steps.

    python benchmarks/adamw_step.py --json benchmarks/results/adamw_step.json

Both optimizers are ``student.train._optimizer`` with ``fused_adamw`` true and false, stepping the same random
gradients from the same weights. The training step is one forward and backward pass of a batch of 32 pairs of 80
tokens (about a length-grouped CrowdFlower batch) plus the fused step. One run.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from relevance_distill.config import student_config_for
from relevance_distill.schemas import get_label_scheme
from relevance_distill.student.model import StudentModel, load_classifier
from relevance_distill.student.train import _optimizer


def timed_steps(optimizer: torch.optim.Optimizer, steps: int) -> float:
    """Median seconds of one optimizer step over STEPS (after two warm-up steps)."""
    for _ in range(2):
        optimizer.step()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="Timed optimizer steps per kernel.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance

    record = provenance()
    config = student_config_for("full")
    classifier, _ = load_classifier(config.init, get_label_scheme("crowdflower"), ["relevance"], config.seed,
                                    config.extend_vocabulary, config.reset_pooler, config.added_token_init)
    torch.manual_seed(0)
    models = {"multi_tensor": StudentModel(classifier, config.projection_dim)}
    models["fused"] = copy.deepcopy(models["multi_tensor"])
    gradients = [torch.randn_like(parameter) * 1e-3 for parameter in models["fused"].parameters()]
    seconds = {}
    for name, model in models.items():
        for parameter, gradient in zip(model.parameters(), gradients):
            parameter.grad = gradient.clone()
        optimizer = _optimizer(model, config.model_copy(update={"fused_adamw": name == "fused"}))
        seconds[name] = timed_steps(optimizer, args.steps)
    with torch.no_grad():
        drift = max(float((a - b).abs().max())
                    for a, b in zip(models["fused"].parameters(), models["multi_tensor"].parameters()))

    model = models["fused"]
    optimizer = _optimizer(model, config)
    batch = {"input_ids": torch.randint(1000, 20000, (32, 80)), "attention_mask": torch.ones(32, 80, dtype=torch.long),
             "token_type_ids": torch.zeros(32, 80, dtype=torch.long)}
    step_times = []
    for _ in range(5):
        started = time.perf_counter()
        logits, _ = model(batch)
        logits.float().logsumexp(dim=-1).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_times.append(time.perf_counter() - started)
    training_step = statistics.median(step_times[1:])
    parameters = sum(parameter.numel() for parameter in model.parameters())
    document = {
        "parameters": parameters, "timed_steps": args.steps, "seconds_per_optimizer_step": seconds,
        "ratio_multi_tensor_over_fused": seconds["multi_tensor"] / seconds["fused"],
        "seconds_per_training_step": training_step,
        "share_of_training_step": {name: value / training_step for name, value in seconds.items()},
        "max_parameter_difference_after_all_steps": drift, "threads": torch.get_num_threads(), "provenance": record}
    print(json.dumps({key: value for key, value in document.items() if key != "provenance"}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
