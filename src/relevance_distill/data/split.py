"""Deterministic train/dev/test splits, grouped by query (no query in two splits) or random by pair.

Assignment depends only on the seed and the ids, never on input order, so re-running with more data keeps
most earlier assignments and the same input always gives the same split.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from statistics import mean
from typing import Any

from relevance_distill.schemas import QueryServicePair


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def split_pairs(
    pairs: list[QueryServicePair],
    fractions: dict[str, float],
    strategy: str = "query",
    seed: int = 13,
) -> dict[str, list[QueryServicePair]]:
    """Split pairs so that each split's share of pairs is close to its fraction.

    With ``strategy="query"`` whole query groups are assigned: groups are ordered by a seeded hash and cut at
    the cumulative pair-count boundaries of the fractions.
    """
    if strategy not in {"query", "random"}:
        raise ValueError(f"unknown split strategy {strategy!r}; allowed: ['query', 'random']")
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    groups: dict[str, list[QueryServicePair]] = defaultdict(list)
    for pair in pairs:
        groups[pair.group_key if strategy == "query" else pair.pair_id].append(pair)
    ordered = sorted(groups, key=lambda key: _rank(seed, key))

    total = len(pairs)
    names = list(fractions)
    boundaries, cumulative = [], 0.0
    for name in names:
        cumulative += fractions[name]
        boundaries.append(cumulative * total)
    result: dict[str, list[QueryServicePair]] = {name: [] for name in names}
    assigned = 0
    split_index = 0
    for key in ordered:
        group = groups[key]
        # A group goes to the split whose range holds the group's midpoint, so sizes track the fractions.
        midpoint = assigned + len(group) / 2
        while split_index < len(names) - 1 and midpoint > boundaries[split_index]:
            split_index += 1
        result[names[split_index]].extend(group)
        assigned += len(group)
    return result


def dataset_stats(pairs: list[QueryServicePair]) -> dict[str, Any]:
    queries = Counter(pair.group_key for pair in pairs)
    return {
        "pairs": len(pairs),
        "queries": len(queries),
        "pairs_per_query": round(len(pairs) / len(queries), 2) if queries else 0.0,
        "labels": dict(sorted(Counter(pair.label or "<none>" for pair in pairs).items())),
        "languages": dict(sorted(Counter(pair.language or "<unknown>" for pair in pairs).items())),
        "sources": dict(sorted(Counter(pair.source or "<unknown>" for pair in pairs).items())),
        "with_reasoning": sum(1 for pair in pairs if pair.reasoning),
        "mean_query_chars": round(mean(len(pair.query) for pair in pairs), 1) if pairs else 0.0,
        "mean_service_text_chars": round(mean(len(pair.service.to_text()) for pair in pairs), 1) if pairs else 0.0,
    }
