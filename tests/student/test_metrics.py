"""Our numpy metrics agree with scikit-learn's on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from relevance_distill.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    macro_f1,
    ndcg_at_k,
    ordinal_predictions,
    quadratic_weighted_kappa,
    query_bootstrap_intervals,
    query_members,
    roc_auc,
    tune_cutpoints,
)
from relevance_distill.schemas import get_label_scheme

SCHEME = get_label_scheme("local_services")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 4, 300))
    assert macro_f1(gold, predicted, 4) == pytest.approx(sk.f1_score(gold, predicted, average="macro"))
    assert quadratic_weighted_kappa(gold, predicted, 4) == pytest.approx(sk.cohen_kappa_score(gold, predicted, weights="quadratic"))
    assert (confusion_matrix(gold, predicted, 4) == sk.confusion_matrix(gold, predicted, labels=range(4))).all()
    scores = rng.random(300).round(2)  # ties
    positive = gold >= 2
    assert roc_auc(positive, scores) == pytest.approx(sk.roc_auc_score(positive, scores))


def test_ndcg_against_sklearn():
    rng = np.random.default_rng(3)
    queries = {}
    for q in range(20):
        gains = rng.integers(0, 4, 12).astype(float)
        scores = rng.random(12)
        queries[str(q)] = list(zip(scores, gains))
    expected = np.mean([sk.ndcg_score([[2**g - 1 for _, g in items]], [[s for s, _ in items]], k=10)
                        for items in queries.values() if any(g > 0 for _, g in items)])
    assert ndcg_at_k(queries, 10) == pytest.approx(expected)


def test_report_shapes():
    scheme = get_label_scheme("local_services")
    probabilities = np.eye(4)[[0, 1, 2, 3, 3]]
    report = classification_report(["irrelevant", "weak", "relevant", "exact", "weak"], probabilities, scheme, list("aabbb"))
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["per_class"]["weak"]["recall"] == pytest.approx(0.5)
    assert report["confusion_matrix"]["matrix"][1][3] == 1
    assert report["roc_auc_relevant"] == pytest.approx(4.5 / 6)  # one tie between a positive and a negative
    assert 0 < report["ndcg_at_10"] <= 1


def test_ordinal_cutpoints_tuned_on_dev_raise_qwk_over_argmax():
    """A model whose distributions lean one grade low: argmax is off by one often, the expected grade with tuned
    cut-points recovers the order (and tuning never lowers QWK on the set it is tuned on)."""
    rng = np.random.default_rng(0)

    def sample(n):
        gold = rng.integers(0, 4, n)
        logits = -((np.arange(4)[None, :] - (gold[:, None] - 0.6 + rng.normal(0, 0.5, (n, 1)))) ** 2)
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return gold, probabilities

    dev_gold, dev_probabilities = sample(400)
    cutpoints = tune_cutpoints(dev_probabilities, dev_gold, 4)
    assert cutpoints == sorted(cutpoints) and len(cutpoints) == 3
    midpoints = ordinal_predictions(dev_probabilities, [0.5, 1.5, 2.5])
    assert quadratic_weighted_kappa(dev_gold, ordinal_predictions(dev_probabilities, cutpoints), 4) >= \
        quadratic_weighted_kappa(dev_gold, midpoints, 4)
    test_gold, test_probabilities = sample(400)
    argmax_qwk = quadratic_weighted_kappa(test_gold, test_probabilities.argmax(axis=1), 4)
    report = classification_report([SCHEME.names[g] for g in test_gold], test_probabilities, SCHEME, cutpoints=cutpoints)
    assert report["qwk"] == pytest.approx(argmax_qwk)
    assert report["ordinal"]["qwk"] > argmax_qwk + 0.02 and report["ordinal"]["cutpoints"] == cutpoints
    # Monotone: a higher expected grade never gets a lower label.
    order = np.argsort(test_probabilities @ np.arange(4))
    assert (np.diff(ordinal_predictions(test_probabilities[order], cutpoints)) >= 0).all()


def test_query_bootstrap_intervals_hold_the_figure_and_narrow_with_more_queries():
    rng = np.random.default_rng(0)

    def intervals(queries: int) -> dict:
        groups = np.repeat([f"q{i}" for i in range(queries)], 40)
        gold = rng.integers(0, 4, len(groups))
        predicted = np.where(rng.random(len(groups)) < 0.6, gold, rng.integers(0, 4, len(groups)))
        result = query_bootstrap_intervals(gold, predicted, groups, 4)
        for metric, point in (("macro_f1", macro_f1(gold, predicted, 4)), ("qwk", quadratic_weighted_kappa(gold, predicted, 4))):
            low, high = result[metric]
            assert low <= point <= high and low < high, metric
        assert result["queries"] == queries and result["resamples"] == 1000
        assert query_bootstrap_intervals(gold, predicted, groups, 4) == result  # seeded: the same figures twice
        return result

    few, many = intervals(10), intervals(200)
    assert many["qwk"][1] - many["qwk"][0] < (few["qwk"][1] - few["qwk"][0]) / 2
    # Perfect predictions: every resample scores 1, so the interval is the point.
    assert query_bootstrap_intervals(np.arange(8) % 4, np.arange(8) % 4, ["a", "a", "b", "b"] * 2, 4)["qwk"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="equal, non-empty"):
        query_bootstrap_intervals(np.zeros(3), np.zeros(2), ["a"] * 3, 4)


def test_the_report_gives_intervals_over_queries_under_both_decodings():
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 4, 200)
    probabilities = rng.dirichlet(np.ones(4), 200)
    probabilities[np.arange(200), gold] += 1.0
    keys = [f"q{i % 20}" for i in range(200)]
    report = classification_report([SCHEME.names[g] for g in gold], probabilities, SCHEME, keys, [0.5, 1.5, 2.5])
    for figures in (report, report["ordinal"]):
        assert figures["ci"]["queries"] == 20
        assert figures["ci"]["macro_f1"][0] <= figures["macro_f1"] <= figures["ci"]["macro_f1"][1]
        assert figures["ci"]["qwk"][0] <= figures["qwk"] <= figures["ci"]["qwk"][1]
    assert "ci" not in classification_report([SCHEME.names[g] for g in gold], probabilities, SCHEME)


def test_query_members_are_each_querys_pair_indices_in_sorted_query_order():
    groups = np.array(["b", "a", "b", "c", "a", "b"])
    members = query_members(groups)
    assert [m.tolist() for m in members] == [[1, 4], [0, 2, 5], [3]]
    rng = np.random.default_rng(1)
    many = rng.integers(0, 50, 2000).astype(str)
    expected = [np.flatnonzero(many == query) for query in np.unique(many)]
    assert all(np.array_equal(a, b) for a, b in zip(query_members(many), expected, strict=True))
