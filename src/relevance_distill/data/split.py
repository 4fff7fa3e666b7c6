"""Deterministic train/dev/test splits, grouped by query (no query in two splits) or random by pair.

Assignment depends only on the seed and the ids, never on input order, so re-running with more data keeps
most earlier assignments and the same input always gives the same split.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from relevance_distill.schemas import QueryServicePair

SPLIT_STRATEGIES = ("query", "random")


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def assign_groups(group_sizes: dict[str, int], fractions: dict[str, float], seed: int = 13) -> dict[str, str]:
    """Split name per group key so that each split's share of pairs is close to its fraction.

    Groups are ordered by a seeded hash and cut at the cumulative pair-count boundaries of the fractions; only
    the keys and their sizes are needed, so a caller can stream the pairs themselves.
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    ordered = sorted(group_sizes, key=lambda key: _rank(seed, key))
    total = sum(group_sizes.values())
    names = list(fractions)
    boundaries, cumulative = [], 0.0
    for name in names:
        cumulative += fractions[name]
        boundaries.append(cumulative * total)
    assignment: dict[str, str] = {}
    assigned = 0
    split_index = 0
    for key in ordered:
        size = group_sizes[key]
        # A group goes to the split whose range holds the group's midpoint, so sizes track the fractions.
        midpoint = assigned + size / 2
        while split_index < len(names) - 1 and midpoint > boundaries[split_index]:
            split_index += 1
        assignment[key] = names[split_index]
        assigned += size
    return assignment


def split_key(pair: QueryServicePair, strategy: str) -> str:
    """The unit a split assigns: the query group or the single pair."""
    if strategy not in SPLIT_STRATEGIES:
        raise ValueError(f"unknown split strategy {strategy!r}; allowed: {list(SPLIT_STRATEGIES)}")
    return pair.group_key if strategy == "query" else pair.pair_id


def split_pairs(
    pairs: list[QueryServicePair],
    fractions: dict[str, float],
    strategy: str = "query",
    seed: int = 13,
) -> dict[str, list[QueryServicePair]]:
    """Split pairs so that each split's share of pairs is close to its fraction.

    With ``strategy="query"`` whole query groups are assigned (``assign_groups``).
    """
    sizes: Counter[str] = Counter(split_key(pair, strategy) for pair in pairs)
    assignment = assign_groups(dict(sizes), fractions, seed)
    result: dict[str, list[QueryServicePair]] = {name: [] for name in fractions}
    for pair in pairs:
        result[assignment[split_key(pair, strategy)]].append(pair)
    return result


class StatsAccumulator:
    """``dataset_stats`` one pair at a time (prepare streams its splits)."""

    def __init__(self) -> None:
        self.pairs = 0
        self.queries: set[str] = set()
        self.labels: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.with_reasoning = 0
        self.query_chars = 0
        self.service_chars = 0

    def add(self, pair: QueryServicePair) -> None:
        self.pairs += 1
        self.queries.add(pair.group_key)
        self.labels[pair.label or "<none>"] += 1
        self.languages[pair.language or "<unknown>"] += 1
        self.sources[pair.source or "<unknown>"] += 1
        self.with_reasoning += bool(pair.reasoning)
        self.query_chars += len(pair.query)
        self.service_chars += len(pair.service.to_text())

    def result(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "queries": len(self.queries),
            "pairs_per_query": round(self.pairs / len(self.queries), 2) if self.queries else 0.0,
            "labels": dict(sorted(self.labels.items())),
            "languages": dict(sorted(self.languages.items())),
            "sources": dict(sorted(self.sources.items())),
            "with_reasoning": self.with_reasoning,
            "mean_query_chars": round(self.query_chars / self.pairs, 1) if self.pairs else 0.0,
            "mean_service_text_chars": round(self.service_chars / self.pairs, 1) if self.pairs else 0.0,
        }


def dataset_stats(pairs: list[QueryServicePair]) -> dict[str, Any]:
    stats = StatsAccumulator()
    for pair in pairs:
        stats.add(pair)
    return stats.result()
