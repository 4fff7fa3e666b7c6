"""CRSD step time ÷ vanilla step time, measured in one run on the same batches and model (target ≤ 2.1).

    python benchmarks/crsd_step_cost.py [--init minilm|tiny] [--steps 12] [--batch-size 32]

Both methods run the same optimizer steps (forward, backward, AdamW update) on the same batches of the
built-in data; warm-up steps are excluded. CRSD pays for a second forward/backward pass over the longer
reasoning view.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, student_config_for
from relevance_distill.data.readers import read_models
from relevance_distill.encoding import ViewEncoder, collate
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.student.crsd import CRSDWeights
from relevance_distill.student.model import StudentModel, load_classifier
from relevance_distill.student.train import build_examples, method_loss


def time_method(method: str, init: str, examples, scheme, steps: int, batch_size: int, warmup: int,
                max_length: int, reasoning_max_length: int, precision: str = "fp32") -> list[float]:
    texts = [t for e in examples for t in (e.pair.query, e.pair.service.to_text(), e.reasoning)]
    classifier, tokenizer = load_classifier(init, scheme, texts, seed=0)
    model = StudentModel(classifier, 128).train()
    encoder = ViewEncoder(tokenizer, max_length, reasoning_max_length)
    standard, reasoning = encoder.encode_pairs([e.pair for e in examples], [e.reasoning for e in examples])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    targets = torch.tensor([scheme.index(e.label) for e in examples])
    soft = torch.tensor([e.soft_target for e in examples])
    timings = []
    for step in range(warmup + steps):
        rows = [(step * batch_size + i) % len(examples) for i in range(batch_size)]
        began = time.perf_counter()
        batch = collate([standard[i] for i in rows], encoder.pad_id)
        batch_r = collate([reasoning[i] for i in rows], encoder.pad_id) if method == "crsd" else None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = method_loss(model, method, CRSDWeights(), batch, batch_r, targets[rows], soft[rows])["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            timings.append(time.perf_counter() - began)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", default="minilm", help="minilm (default student) or tiny")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--profile", default="demo", help="student profile whose sequence lengths are used")
    parser.add_argument("--reasoning-max-length", type=int, help="override the profile's reasoning-view budget")
    parser.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16 (CPU autocast); each "
                        "method is timed in each, and bf16 ÷ fp32 step time is printed")
    args = parser.parse_args()
    config = student_config_for(args.profile)
    if args.reasoning_max_length:
        config = config.model_copy(update={"reasoning_max_length": args.reasoning_max_length})
    scheme = get_label_scheme("local_services")
    with tempfile.TemporaryDirectory() as directory:
        generate_dataset(DataGenerationConfig(num_services=200, num_queries=60, num_log_pairs=0, corpus_documents=0), directory)
        pairs = read_models(str(Path(directory) / "labeled.jsonl"), QueryServicePair)
    examples, _ = build_examples(pairs, scheme)
    results = {}
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    for precision in precisions:
        for method in ("vanilla", "crsd"):
            timings = time_method(method, args.init, examples, scheme, args.steps, args.batch_size, args.warmup,
                                  config.max_length, config.reasoning_max_length, precision)
            results[precision, method] = statistics.median(timings)
            print(f"{method:8s} {precision} median step {results[precision, method] * 1000:8.1f} ms over {len(timings)} "
                  f"steps (init={args.init}, batch={args.batch_size}, max_length={config.max_length}, "
                  f"reasoning_max_length={config.reasoning_max_length}, threads={torch.get_num_threads()})")
        print(f"{precision}: CRSD step time / vanilla step time = "
              f"{results[precision, 'crsd'] / results[precision, 'vanilla']:.2f} (target <= 2.1)")
    if {"fp32", "bf16"} <= set(precisions):
        for method in ("vanilla", "crsd"):
            print(f"{method}: bf16 / fp32 step time = {results['bf16', method] / results['fp32', method]:.2f}")

if __name__ == "__main__":
    main()
