"""Load test: concurrent clients against the model server on loopback; reports errors (target 0).

    python benchmarks/load.py [--model DIR] [--clients 32] [--seconds 30] [--batch 10] [--backends torch,auto]

Every client sends V1 requests back to back until the time is up (bounded by time and by
--max-requests per client); the server runs in its own process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _serving_setup import Server, export_benchmark_model, sample_pairs


async def client_loop(client: httpx.AsyncClient, url: str, bodies: list[dict], deadline: float, max_requests: int,
                      latencies: list[float], errors: list[str]) -> None:
    for index in range(max_requests):
        if time.monotonic() >= deadline:
            return
        began = time.perf_counter()
        try:
            response = await client.post(url, json=bodies[index % len(bodies)])
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:100]}")
        except httpx.HTTPError as error:
            errors.append(f"{type(error).__name__}: {error}")
        latencies.append(time.perf_counter() - began)


async def run_load(base: str, clients: int, seconds: float, batch: int, max_requests: int) -> dict:
    pairs = sample_pairs()
    bodies = [{"instances": [{"query": pairs[i].query, "service_text": p.service.to_text()}
                             for p in pairs[i : i + batch]]} for i in range(0, len(pairs) - batch, batch)]
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        began = time.monotonic()
        deadline = began + seconds
        await asyncio.gather(*(client_loop(client, f"{base}/v1/models/relevance:predict", bodies, deadline, max_requests,
                                           latencies, errors) for _ in range(clients)))
        elapsed = time.monotonic() - began
    values = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": len(errors), "error_samples": errors[:3], "seconds": elapsed,
            "requests_per_s": len(latencies) / elapsed, "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=10_000, help="per client, a hard bound on the loop")
    parser.add_argument("--backends", default="torch,auto",
                        help="comma-separated serving backends, each loaded in turn (torch = the old default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or export_benchmark_model(Path(work))
        for backend in args.backends.split(","):
            server = Server(model_dir, args.threads, backend)
            try:
                result = asyncio.run(run_load(server.base, args.clients, args.seconds, args.batch, args.max_requests))
            finally:
                server.stop()
            print(f"{backend:8s} {args.clients} clients x {result['seconds']:.1f} s: {result['requests']} requests "
                  f"({result['requests_per_s']:.1f}/s, {args.batch} pairs each), errors {result['errors']} (target 0), "
                  f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms")
            for sample in result["error_samples"]:
                print("  error:", sample)


if __name__ == "__main__":
    main()
