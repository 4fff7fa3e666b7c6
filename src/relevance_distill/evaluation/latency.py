"""CPU latency of the production path (tokenise + standard-view forward) for one query × N services."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from relevance_distill.schemas import QueryServicePair


def request_latency_ms(classifier: Any, encoder: Any, pairs: list[QueryServicePair], services_per_request: int = 50,
                       requests: int = 30, warmup: int = 3) -> dict[str, float]:
    """p50/p99/mean milliseconds of scoring one query against ``services_per_request`` services.

    Each request takes one query from ``pairs`` and the next ``services_per_request`` services of the pool,
    so texts vary between requests as they do in production.
    """
    import torch

    from relevance_distill.encoding import collate

    if not pairs:
        raise ValueError("latency needs at least one pair to build requests from")
    classifier.eval()
    device = next(classifier.parameters()).device
    services = [pair.service.to_text() for pair in pairs]
    timings = []
    with torch.inference_mode():
        for index in range(warmup + requests):
            query = pairs[index % len(pairs)].query
            start = (index * services_per_request) % len(services)
            batch_services = [services[(start + k) % len(services)] for k in range(services_per_request)]
            began = time.perf_counter()
            standard, _ = encoder.encode([query] * services_per_request, batch_services)
            batch = {k: v.to(device) for k, v in collate(standard, encoder.pad_id).items()}
            torch.softmax(classifier(**batch).logits, dim=-1).cpu()
            if index >= warmup:
                timings.append((time.perf_counter() - began) * 1000)
    values = np.array(timings)
    return {"services_per_request": services_per_request, "requests": requests,
            "p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(values.mean()), "threads": torch.get_num_threads()}
