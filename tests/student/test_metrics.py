"""Our numpy metrics agree with scikit-learn's on random data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from relevance_distill.evaluation.metrics import (
    classification_report, confusion_matrix, macro_f1, ndcg_at_k, quadratic_weighted_kappa, roc_auc,
)
from relevance_distill.schemas import get_label_scheme


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
