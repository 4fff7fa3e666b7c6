"""Prepare + split at scale: rows/s and peak memory of the streaming prepare stage, against the in-memory
baseline (validate into lists, split the lists) on the same file, each in its own process, measured in one run.

    python benchmarks/prepare_scale.py [--rows 1000000] [--baseline-rows 200000] [--json OUT]

The file is CrowdFlower-shaped CSV (query, product_title, product_description, median_relevance) generated
here with ~20 pairs per query, so validation, de-duplication (about 1 % repeats) and the query-grouped split all
do real work. Peak memory is the process's maximum resident set (ru_maxrss), the interpreter included.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import provenance

WORDS = ("red wooden kitchen table chair lamp led outdoor waterproof jacket women men kids running shoes leather "
         "wallet phone case charger cable wireless headphones bluetooth speaker coffee maker stainless steel "
         "water bottle yoga mat backpack laptop stand desk office garden hose tent sleeping bag").split()


def generate(path: Path, rows: int, seed: int = 13) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "query", "product_title", "product_description", "median_relevance", "relevance_variance"])
        for number in range(rows):
            query = f"{' '.join(rng.sample(WORDS, 3))} {number // 20}"
            # About 1 % of rows repeat an earlier (query, product) pair: the de-duplication has work to do.
            item = number - 1 if number % 100 == 99 else number
            title = f"{' '.join(rng.sample(WORDS, 5))} model {item}"
            description = " ".join(rng.choices(WORDS, k=rng.randint(0, 40)))
            writer.writerow([number, query, title, description, rng.randint(1, 4), round(rng.random(), 3)])


def run_one(method: str, path: str, out: str) -> dict:
    from relevance_distill.config import PrepareDataConfig

    config = PrepareDataConfig(input_format="crowdflower", label_scheme="crowdflower")
    started = time.monotonic()
    if method == "streaming":
        from relevance_distill.data.prepare import prepare_dataset

        summary = prepare_dataset(path, out, config)
        rows_in, kept = summary["validation"]["rows_in"], summary["validation"]["kept"]
    else:
        from relevance_distill.data.adapters import open_adapter
        from relevance_distill.data.readers import write_jsonl
        from relevance_distill.data.split import split_pairs
        from relevance_distill.data.validate import validate_rows

        pairs, quarantine, report = validate_rows(open_adapter("crowdflower", path), config.resolved_label_scheme())
        splits = split_pairs(pairs, config.split_fractions, config.split_strategy, config.seed)
        Path(out).mkdir(parents=True)
        for name, split in splits.items():
            write_jsonl(str(Path(out) / f"{name}.jsonl"), split)
        rows_in, kept = report.rows_in, report.kept
    seconds = time.monotonic() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "rows_in": rows_in, "kept": kept, "seconds": round(seconds, 1),
            "rows_per_second": round(rows_in / seconds), "peak_rss_mib": round(peak_mib)}


def measure(method: str, rows: int, directory: Path) -> dict:
    path = directory / f"rows-{rows}.csv"
    if not path.exists():
        generate(path, rows)
    out = directory / f"out-{method}-{rows}"
    process = subprocess.run([sys.executable, __file__, "--one", method, str(path), str(out)],
                             capture_output=True, text=True, check=True)
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=200_000,
                        help="Rows for the in-memory baseline and the same-size streaming run (the ratio's pair).")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    with tempfile.TemporaryDirectory(prefix="prepare-scale-") as directory:
        root = Path(directory)
        small_stream = measure("streaming", args.baseline_rows, root)
        small_memory = measure("in_memory", args.baseline_rows, root)
        large = measure("streaming", args.rows, root)
    results = {"same_file": {"rows": args.baseline_rows, "streaming": small_stream, "in_memory": small_memory,
                             "peak_memory_ratio_in_memory_over_streaming":
                                 round(small_memory["peak_rss_mib"] / small_stream["peak_rss_mib"], 2),
                             "speed_ratio_streaming_over_in_memory":
                                 round(small_stream["rows_per_second"] / small_memory["rows_per_second"], 2)},
               "large": large, "goal_peak_mib": 1536, "goal_met": large["peak_rss_mib"] < 1536}
    for name, result in (("streaming", small_stream), ("in-memory", small_memory), ("streaming", large)):
        print(f"{name:>10} {result['rows_in']:>9} rows: {result['rows_per_second']:>6} rows/s, "
              f"peak {result['peak_rss_mib']} MiB, {result['seconds']} s")
    print(f"same file ({args.baseline_rows} rows): in-memory peak ÷ streaming peak "
          f"{results['same_file']['peak_memory_ratio_in_memory_over_streaming']}, streaming speed ÷ in-memory "
          f"{results['same_file']['speed_ratio_streaming_over_in_memory']}")
    print(f"{args.rows} rows: peak {large['peak_rss_mib']} MiB (goal < 1536 MiB: {'met' if results['goal_met'] else 'MISSED'})")
    if args.json:
        results = {**results, "provenance": provenance()} if isinstance(results, dict) else {"runs": results, "provenance": provenance()}
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
