"""Serving throughput and latency, measured in one run on the same model and batch.

    python benchmarks/serving.py [--model DIR] [--threads 2] [--requests 40] [--batch 50]

Prints: in-process forward throughput (predictor.probabilities, no HTTP), HTTP V1 and V2 throughput
through the KServe model server, their ratio to in-process (target >= 0.85), p50/p99 latency of one query ×
50 services over HTTP V1, and the ONNX ÷ torch in-process speedup. Sequential requests on one keep-alive
connection, so the ratio isolates the server's overhead from concurrency effects.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from _serving_setup import Server, export_benchmark_model, sample_pairs
from relevance_distill.serving.predictor import RelevancePredictor


def timed(function, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        timings.append(time.perf_counter() - began)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="exported model directory (default: export a MiniLM student)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--batch", type=int, default=50, help="services per request (one query)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or export_benchmark_model(Path(work))
        pairs = sample_pairs()
        query = pairs[0].query
        services = [pair.service.to_text() for pair in pairs[: args.batch]]
        results = {}
        for backend in ("torch", "onnx"):
            predictor = RelevancePredictor("relevance", str(model_dir), backend, args.threads)
            predictor.load()
            predictor.probabilities([query] * args.batch, services)  # warm-up
            timings = timed(lambda: predictor.probabilities([query] * args.batch, services), args.requests)
            results[backend] = args.batch / statistics.median(timings)
            print(f"in-process {backend:5s}: {results[backend]:8.1f} pairs/s (median of {args.requests} batches of {args.batch})")
        server = Server(model_dir, args.threads)
        try:
            with httpx.Client(timeout=60) as client:
                v1_body = {"instances": [{"query": query, "service_text": text} for text in services]}
                v2_body = {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [args.batch], "data": [query] * args.batch},
                                      {"name": "service_text", "datatype": "BYTES", "shape": [args.batch], "data": services}]}
                for name, url, body in (("v1", f"{server.base}/v1/models/relevance:predict", v1_body),
                                        ("v2", f"{server.base}/v2/models/relevance/infer", v2_body)):
                    for _ in range(3):
                        client.post(url, json=body).raise_for_status()

                    def call(url=url, body=body):
                        client.post(url, json=body).raise_for_status()

                    timings = timed(call, args.requests)
                    results[name] = args.batch / statistics.median(timings)
                    results[f"{name}_timings"] = timings
                    print(f"HTTP {name}          : {results[name]:8.1f} pairs/s "
                          f"(ratio to in-process torch {results[name] / results['torch']:.2f}, target >= 0.85)")
        finally:
            server.stop()
        latencies = np.array(results["v1_timings"]) * 1000
        print(f"latency, 1 query x {args.batch} services over HTTP V1: p50 {np.percentile(latencies, 50):.1f} ms, "
              f"p99 {np.percentile(latencies, 99):.1f} ms ({args.threads} threads)")
        print(f"ONNX / torch in-process speedup: {results['onnx'] / results['torch']:.2f}")


if __name__ == "__main__":
    main()
