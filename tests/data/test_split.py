from __future__ import annotations

import pytest

from relevance_distill.data.split import dataset_stats, split_pairs
from relevance_distill.schemas import QueryServicePair, Service

FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def _pairs(queries=200, per_query_max=9):
    pairs = []
    for q in range(queries):
        for s in range(1 + q % per_query_max):
            pairs.append(QueryServicePair(pair_id=f"p{q}-{s}", query=f"Query {q}", service=Service(service_id=f"s{s}", title="t"), label="weak"))
    return pairs


def test_query_grouped_split_keeps_queries_together_and_tracks_fractions():
    pairs = _pairs()
    splits = split_pairs(pairs, FRACTIONS, "query", seed=3)
    owners = {}
    for name, subset in splits.items():
        for pair in subset:
            assert owners.setdefault(pair.group_key, name) == name, f"{pair.group_key} in two splits"
    assert sum(len(s) for s in splits.values()) == len(pairs)
    for name, share in FRACTIONS.items():
        assert abs(len(splits[name]) / len(pairs) - share) < 0.03


def test_split_is_deterministic_and_order_independent():
    pairs = _pairs()
    first = split_pairs(pairs, FRACTIONS, "query", seed=5)
    second = split_pairs(list(reversed(pairs)), FRACTIONS, "query", seed=5)
    assert {n: sorted(p.pair_id for p in s) for n, s in first.items()} == {n: sorted(p.pair_id for p in s) for n, s in second.items()}
    other_seed = split_pairs(pairs, FRACTIONS, "query", seed=6)
    assert {p.pair_id for p in other_seed["test"]} != {p.pair_id for p in first["test"]}


def test_random_split_splits_queries_across():
    pairs = _pairs()
    splits = split_pairs(pairs, FRACTIONS, "random", seed=1)
    train_queries = {p.group_key for p in splits["train"]}
    assert any(p.group_key in train_queries for p in splits["test"])
    assert abs(len(splits["train"]) / len(pairs) - 0.8) < 0.02


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="allowed"):
        split_pairs(_pairs(3), FRACTIONS, "by_user")
    with pytest.raises(ValueError, match="sum to 1"):
        split_pairs(_pairs(3), {"train": 0.5}, "query")


def test_stats():
    stats = dataset_stats(_pairs(10, 3))
    assert stats["queries"] == 10 and stats["pairs"] == sum(1 + q % 3 for q in range(10))
