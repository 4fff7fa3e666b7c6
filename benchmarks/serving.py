"""Serving speed of the exported student, every figure measured in one run on the same model and the same requests.

    python benchmarks/serving.py [--model DIR] [--threads 2] [--requests 60] [--batch 50] [--json OUT]

The requests: one query × BATCH candidate services from the built-in test split. Measured:
* in process (``RelevancePredictor.probabilities``, no HTTP), for every backend the export holds: pairs/s and
  p50/p99 latency of one request; and the baseline ``torch_padded``, the predictor as it was (torch fp32, every pair
  padded to max_length), which the ``*_over_torch_fp32`` ratios divide by;
* the fastest backend through the KServe model server: HTTP V1, HTTP V2 and gRPC (Open Inference Protocol,
  ``tritonclient.grpc``), sequential requests on one connection;
* the reference a user would otherwise pick: ``sentence_transformers.CrossEncoder.predict`` on the same weights;
* the accuracy gate figures the export recorded for INT8 and bf16 (macro-F1 drop, argmax agreement, test split).

``--model`` takes an export made with ONNX and INT8 (``relevance-distill export … --test TEST.jsonl``); without it
a MiniLM student is trained for one step and exported here (speed is the same; the accuracy figures then describe
an untrained head). Ratios are what to compare across machines; absolute figures are for this one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from _machine import machine, provenance
from _serving_setup import Server, export_benchmark_model, sample_pairs

from relevance_distill.layout import EXPORT_INFO
from relevance_distill.serving.backends import published_backends
from relevance_distill.serving.limits import ServingLimits
from relevance_distill.serving.predictor import RelevancePredictor

SUB_BATCH_SIZES = (16, 25, 32, 64)


def timed(function: Callable[[], Any], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        function()
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        timings.append(time.perf_counter() - began)
    return timings


def summary(timings: list[float], batch: int) -> dict[str, float]:
    milliseconds = np.array(timings) * 1000
    return {"pairs_per_s": batch / statistics.median(timings), "p50": float(np.percentile(milliseconds, 50)),
            "p99": float(np.percentile(milliseconds, 99))}


def request_set(batch: int) -> tuple[list[str], list[str]]:
    """One query of the built-in test split (the prepare step's split) and BATCH services of that split."""
    from relevance_distill.config import PrepareDataConfig
    from relevance_distill.data.split import split_pairs

    settings = PrepareDataConfig()
    test = split_pairs(sample_pairs(3200), settings.split_fractions, settings.split_strategy, settings.seed)["test"]
    if len(test) < batch:
        raise ValueError(f"the test split has {len(test)} pairs, fewer than --batch {batch}")
    return [test[0].query] * batch, [pair.service.to_text() for pair in test[:batch]]


def padded_torch_timings(model_dir: Path, queries: list[str], services: list[str], threads: int,
                         repeats: int) -> list[float]:
    """The predictor before this benchmark existed: torch fp32, every pair padded to max_length, one batch."""
    predictor = RelevancePredictor("relevance", str(model_dir), "torch", threads)
    predictor.load()
    encoder, backend = predictor.encoder, predictor._backend

    def score() -> np.ndarray:
        views, _ = encoder.encode(queries, services)
        input_ids = np.full((len(views), encoder.max_length), encoder.pad_id, dtype=np.int64)
        token_type_ids = np.zeros_like(input_ids)
        attention_mask = np.zeros_like(input_ids)
        for row, view in enumerate(views):
            input_ids[row, :len(view.input_ids)] = view.input_ids
            token_type_ids[row, :len(view.input_ids)] = view.token_type_ids
            attention_mask[row, :len(view.input_ids)] = 1
        return backend.logits({"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask})

    return timed(score, repeats)


def cross_encoder_timings(model_dir: Path, queries: list[str], services: list[str], threads: int, repeats: int,
                          max_length: int) -> list[float]:
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(threads)
    model = CrossEncoder(str(model_dir), max_length=max_length, device="cpu")
    pairs = list(zip(queries, services))
    return timed(lambda: model.predict(pairs, batch_size=len(pairs), show_progress_bar=False), repeats)


def server_timings(model_dir: Path, backend: str, threads: int, queries: list[str], services: list[str],
                   repeats: int) -> dict[str, list[float]]:
    import httpx

    server = Server(model_dir, threads, backend)
    results = {}
    try:
        with httpx.Client(timeout=60) as client:
            v1 = {"instances": [{"query": q, "service_text": s} for q, s in zip(queries, services)]}
            v2 = {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [len(queries)], "data": queries},
                             {"name": "service_text", "datatype": "BYTES", "shape": [len(services)], "data": services}]}
            for name, url, body in (("http_v1", f"{server.base}/v1/models/relevance:predict", v1),
                                    ("http_v2", f"{server.base}/v2/models/relevance/infer", v2)):
                results[name] = timed(lambda url=url, body=body: client.post(url, json=body).raise_for_status(), repeats)
        completed = subprocess.run([sys.executable, str(Path(__file__).with_name("_grpc_timings.py")),
                                    f"127.0.0.1:{server.grpc_port}", str(repeats), json.dumps(queries),
                                    json.dumps(services)], capture_output=True, text=True, timeout=600, check=True)
        results["grpc"] = json.loads(completed.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="exported model directory with ONNX and INT8 graphs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--batch", type=int, default=50, help="candidate services per request (one query)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or export_benchmark_model(Path(work))
        info = json.loads((model_dir / EXPORT_INFO).read_text(encoding="utf-8"))
        queries, services = request_set(args.batch)
        available = published_backends(info, model_dir)
        in_process = {"torch_padded": summary(padded_torch_timings(model_dir, queries, services, args.threads,
                                                                   args.requests), args.batch)}
        print(f"in process torch_padded    {in_process['torch_padded']['pairs_per_s']:8.1f} pairs/s  "
              f"p50 {in_process['torch_padded']['p50']:7.1f} ms  p99 {in_process['torch_padded']['p99']:7.1f} ms")
        for backend in available:
            predictor = RelevancePredictor("relevance", str(model_dir), backend, args.threads)
            predictor.load()
            in_process[backend] = summary(timed(lambda: predictor.probabilities(queries, services), args.requests),
                                          args.batch)
            print(f"in process {backend:15s} {in_process[backend]['pairs_per_s']:8.1f} pairs/s  "
                  f"p50 {in_process[backend]['p50']:7.1f} ms  p99 {in_process[backend]['p99']:7.1f} ms")
        best = max(available, key=lambda name: in_process[name]["pairs_per_s"])
        # The request sorted by length in sub-batches of N (ServingLimits.sub_batch_size): smaller sub-batches pad
        # less but run more, smaller matrix products; the default is the size that won here.
        sub_batch_p50 = {}
        for size in SUB_BATCH_SIZES:
            predictor = RelevancePredictor("relevance", str(model_dir), best, args.threads,
                                           ServingLimits(sub_batch_size=size))
            predictor.load()
            sub_batch_p50[size] = summary(timed(lambda: predictor.probabilities(queries, services), args.requests),
                                          args.batch)["p50"]
            print(f"in process {best} sub-batches of {size:3d}: p50 {sub_batch_p50[size]:7.1f} ms"
                  + ("  (the default)" if size == ServingLimits().sub_batch_size else ""))
        served = {name: summary(timings, args.batch) for name, timings in
                  server_timings(model_dir, best, args.threads, queries, services, args.requests).items()}
        for name, figures in served.items():
            print(f"KServe {name:8s} ({best}) {figures['pairs_per_s']:8.1f} pairs/s  p50 {figures['p50']:7.1f} ms  "
                  f"p99 {figures['p99']:7.1f} ms")
        reference = summary(cross_encoder_timings(model_dir, queries, services, args.threads, args.requests,
                                                  info["max_length"]), args.batch)
        print(f"CrossEncoder.predict  {reference['pairs_per_s']:8.1f} pairs/s  p50 {reference['p50']:7.1f} ms  "
              f"p99 {reference['p99']:7.1f} ms")
    gates = {name: entry["gate"] for name, entry in info.get("backends", {}).items() if "gate" in entry}
    rate = {name: figures["pairs_per_s"] for name, figures in {**in_process, **served}.items()}
    rate["cross_encoder"] = reference["pairs_per_s"]
    report = {
        "setup": {"threads": args.threads, "batch": args.batch, "requests": args.requests, "best_backend": best,
                  "max_length": info["max_length"], "model_version": info["version"],
                  "sub_batch_size": ServingLimits().sub_batch_size, "machine": machine()},
        "sub_batch_p50_ms": {str(size): value for size, value in sub_batch_p50.items()},
        "pairs_per_s": rate,
        "latency_ms": {name: {"p50": figures["p50"], "p99": figures["p99"]}
                       for name, figures in {**in_process, **served, "cross_encoder": reference}.items()},
        "ratios": {
            "best_over_torch_fp32": rate[best] / rate["torch_padded"],
            "int8_over_torch_fp32": rate["onnx_int8"] / rate["torch_padded"] if "onnx_int8" in rate else None,
            "bf16_over_torch_fp32": rate["torch_bf16"] / rate["torch_padded"] if "torch_bf16" in rate else None,
            "openvino_bf16_over_torch_fp32": (rate["openvino_bf16"] / rate["torch_padded"] if "openvino_bf16" in rate
                                              else None),
            "openvino_int8_over_torch_fp32": (rate["openvino_int8"] / rate["torch_padded"] if "openvino_int8" in rate
                                              else None),
            "best_over_torch_fp32_dynamic_padding": rate[best] / rate["torch"],
            "http_v2_over_inprocess": rate["http_v2"] / rate[best],
            "grpc_over_inprocess": rate["grpc"] / rate[best],
            "best_over_cross_encoder": rate[best] / rate["cross_encoder"],
        },
        "accuracy": {
            "int8_macro_f1_drop": gates.get("onnx_int8", {}).get("macro_f1_drop"),
            "int8_argmax_agreement": gates.get("onnx_int8", {}).get("argmax_agreement"),
            "bf16_macro_f1_drop": gates.get("torch_bf16", {}).get("macro_f1_drop"),
            "bf16_argmax_agreement": gates.get("torch_bf16", {}).get("argmax_agreement"),
            "openvino_bf16_macro_f1_drop": gates.get("openvino_bf16", {}).get("macro_f1_drop"),
            "openvino_bf16_argmax_agreement": gates.get("openvino_bf16", {}).get("argmax_agreement"),
            "openvino_int8_macro_f1_drop": gates.get("openvino_int8", {}).get("macro_f1_drop"),
            "openvino_int8_argmax_agreement": gates.get("openvino_int8", {}).get("argmax_agreement"),
            "published": {name: gate["published"] for name, gate in gates.items()},
            "test_pairs": next(iter(gates.values()), {}).get("test_pairs")},
    }
    for name, value in report["ratios"].items():
        print(f"{name:28s} {value:.2f}" if value is not None else f"{name:28s} n/a")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**report, "provenance": provenance()}, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
