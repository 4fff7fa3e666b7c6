"""Annotation throughput of every engine available here, on the same teacher and the same pairs, in one run.

    python benchmarks/annotate_throughput.py [--teacher DIR] [--pairs 200] [--samples 3] [--max-new-tokens 96]

Without --teacher, a smoke-profile teacher (tiny Qwen2, head dim 64) is trained first on built-in data.
Each engine annotates the same log pairs (self-consistency with SAMPLES answers per pair, shard 0 of 1, the
full annotate_shard path: prompt building, generation, parsing, voting). Start-up (model load; vLLM's
engine processes) is timed separately and excluded from the rates. Prints pairs/s, generated tokens/s and
the vLLM ÷ transformers ratios. For a GPU machine see benchmarks/annotate_gpu.sh.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", help="Teacher model directory (default: train a smoke teacher here).")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32, help="Prompts per generate call (transformers).")
    parser.add_argument("--engines", default="transformers,vllm")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per vLLM replica.")
    parser.add_argument("--max-model-len", type=int, default=1024)
    args = parser.parse_args()

    from relevance_distill.annotate.shards import annotate_shard
    from relevance_distill.builtin_world.generate import generate_dataset
    from relevance_distill.config import DataGenerationConfig, EngineConfig
    from relevance_distill.data.readers import read_models
    from relevance_distill.llm.engines import make_engine
    from relevance_distill.schemas import QueryServicePair, get_label_scheme
    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.sft import run_sft

    scheme = get_label_scheme("local_services")
    with tempfile.TemporaryDirectory(prefix="annotate-bench-") as directory:
        root = Path(directory)
        generate_dataset(DataGenerationConfig(num_services=200, num_queries=100, num_log_pairs=max(args.pairs, 100),
                                              corpus_documents=0, seed=21), root / "data")
        teacher = args.teacher
        if teacher is None:
            gold = read_models(str(root / "data" / "labeled.jsonl"), QueryServicePair)
            run_sft(teacher_config("smoke").sft, gold, scheme, root / "teacher")
            teacher = str(root / "teacher" / "model")
        pairs = read_models(str(root / "data" / "search_logs.jsonl"), QueryServicePair)[: args.pairs]
        results = {}
        for name in [e.strip() for e in args.engines.split(",") if e.strip()]:
            config = EngineConfig(engine=name, samples=args.samples, temperature=0.8, max_new_tokens=args.max_new_tokens,
                                  batch_size=args.batch_size, max_model_len=args.max_model_len,
                                  tensor_parallel_size=args.tensor_parallel_size)
            started = time.perf_counter()
            try:
                engine = make_engine(teacher, config)
            except RuntimeError as error:
                print(f"{name}: not available ({error})")
                continue
            startup = time.perf_counter() - started
            stats = annotate_shard(pairs, 0, 1, engine, scheme, str(root / f"out-{name}"), "bench")
            engine.close()
            results[name] = {"startup_s": startup, "seconds": stats["seconds"], "pairs": stats["rows_in"],
                             "annotated": stats["annotated"], "tokens": stats["tokens_generated"]}
        print(f"\n{len(pairs)} pairs × {args.samples} samples, ≤ {args.max_new_tokens} new tokens, teacher {teacher}")
        print(f"{'engine':<14}{'start-up s':>11}{'annotate s':>12}{'pairs/s':>10}{'tokens/s':>11}{'parsed':>9}")
        for name, r in results.items():
            print(f"{name:<14}{r['startup_s']:>11.1f}{r['seconds']:>12.1f}{r['pairs'] / r['seconds']:>10.2f}"
                  f"{r['tokens'] / r['seconds']:>11.0f}{r['annotated'] / r['pairs']:>9.2f}")
        if {"vllm", "transformers"} <= set(results):
            v, t = results["vllm"], results["transformers"]
            print(f"vllm ÷ transformers: pairs/s {(v['pairs'] / v['seconds']) / (t['pairs'] / t['seconds']):.2f}, "
                  f"tokens/s {(v['tokens'] / v['seconds']) / (t['tokens'] / t['seconds']):.2f}")


if __name__ == "__main__":  # vLLM starts worker processes: the guard keeps them from re-running this script
    main()
