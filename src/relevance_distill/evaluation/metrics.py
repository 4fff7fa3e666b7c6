"""Classification and ranking metrics for graded relevance (numpy only, so every image can compute them)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from relevance_distill.schemas import LabelScheme


def confusion_matrix(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (gold, predicted), 1)
    return matrix


def per_class_prf(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    true_positive = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return precision, recall, f1


def macro_f1(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> float:
    """Mean F1 over the classes present in gold or predictions (sklearn's convention for absent classes). A
    prediction of -1 (no answer: a teacher output that did not parse) is wrong and claims no class: it lowers the
    recall of the gold class without inventing a label."""
    predicted = np.where(np.asarray(predicted) < 0, num_labels, predicted)
    matrix = confusion_matrix(np.asarray(gold), predicted, num_labels + 1)
    present = ((matrix.sum(axis=0) + matrix.sum(axis=1)) > 0)[:num_labels]
    f1 = per_class_prf(matrix)[2][:num_labels]
    return float(f1[present].mean()) if present.any() else 0.0


def quadratic_weighted_kappa(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> float:
    observed = confusion_matrix(gold, predicted, num_labels).astype(float)
    total = observed.sum()
    if total == 0:
        return 0.0
    indices = np.arange(num_labels)
    weights = (indices[:, None] - indices[None, :]) ** 2 / max((num_labels - 1) ** 2, 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    denominator = (weights * expected).sum()
    return float(1.0 - (weights * observed).sum() / denominator) if denominator > 0 else 1.0


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank-sum statistic (ties get half credit); None if one class only."""
    positive = positive.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=float)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ndcg_at_k(gains_by_query: dict[str, list[tuple[float, float]]], k: int = 10) -> float | None:
    """Mean NDCG@k over queries; each query gives (predicted score, gold gain) per candidate.

    Queries whose candidates all have gain 0 have no ideal ranking and are left out.
    """
    values = []
    for items in gains_by_query.values():
        ranked = sorted(items, key=lambda item: -item[0])[:k]
        ideal = sorted((gain for _, gain in items), reverse=True)[:k]
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        ideal_dcg = float(sum((2**g - 1) * d for g, d in zip(ideal, discounts)))
        if ideal_dcg <= 0:
            continue
        dcg = float(sum((2**gain - 1) * d for (_, gain), d in zip(ranked, discounts)))
        values.append(dcg / ideal_dcg)
    return float(np.mean(values)) if values else None


def expected_scores(probabilities: np.ndarray, scheme: LabelScheme) -> np.ndarray:
    """Ranking scores of many predicted distributions at once (LabelScheme.expected_score, vectorised)."""
    grades = np.array([label.grade for label in scheme.labels], dtype=float)
    return (np.asarray(probabilities, dtype=float) @ grades - grades[0]) / (grades[-1] - grades[0])


def expected_grade_index(probabilities: np.ndarray) -> np.ndarray:
    """Expected label index Σ_k p_k·k of each predicted distribution (the ordinal decoder's input)."""
    probabilities = np.asarray(probabilities, dtype=float)
    return probabilities @ np.arange(probabilities.shape[1], dtype=float)


def ordinal_predictions(probabilities: np.ndarray, cutpoints: list[float]) -> np.ndarray:
    """Label index from the expected grade: k where cutpoints[k-1] < E ≤ cutpoints[k] (K-1 increasing cut-points)."""
    return np.searchsorted(np.asarray(cutpoints, dtype=float), expected_grade_index(probabilities), side="left")


def tune_cutpoints(probabilities: np.ndarray, gold: np.ndarray, num_labels: int, passes: int = 3,
                   candidates: int = 200) -> list[float]:
    """Cut-points on the expected grade that maximise QWK on (dev) pairs: coordinate ascent from the midpoints
    k + 0.5, each cut-point searched over quantiles of the expected grades between its neighbours."""
    grades = expected_grade_index(probabilities)
    cutpoints = [k + 0.5 for k in range(num_labels - 1)]
    if len(grades) == 0:
        return cutpoints
    grid = np.unique(np.quantile(grades, np.linspace(0, 1, candidates)))

    def score(points: list[float]) -> float:
        return quadratic_weighted_kappa(gold, np.searchsorted(np.asarray(points), grades, side="left"), num_labels)

    best = score(cutpoints)
    for _ in range(passes):
        improved = False
        for index in range(len(cutpoints)):
            low = cutpoints[index - 1] if index > 0 else -np.inf
            high = cutpoints[index + 1] if index + 1 < len(cutpoints) else np.inf
            for value in grid[(grid > low) & (grid < high)]:
                trial = cutpoints[:index] + [float(value)] + cutpoints[index + 1:]
                trial_score = score(trial)
                if trial_score > best + 1e-12:
                    best, cutpoints, improved = trial_score, trial, True
        if not improved:
            break
    return [float(point) for point in cutpoints]


def classification_report(gold_labels: list[str], probabilities: np.ndarray, scheme: LabelScheme,
                          query_keys: list[str] | None = None, cutpoints: list[float] | None = None) -> dict[str, Any]:
    """Every metric of DESIGN.md's evaluation on one set: gold label names vs predicted distributions. With
    CUT-POINTS (tuned on dev), ``ordinal`` holds the same label metrics for the expected-grade decoder."""
    gold = np.array([scheme.index(label) for label in gold_labels], dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=float)
    predicted = probabilities.argmax(axis=1)
    k = scheme.num_labels
    matrix = confusion_matrix(gold, predicted, k)
    precision, recall, f1 = per_class_prf(matrix)
    scores = expected_scores(probabilities, scheme)
    relevant_from = scheme.index(scheme.relevant_from)
    report: dict[str, Any] = {
        "count": int(len(gold)),
        "macro_f1": macro_f1(gold, predicted, k),
        "accuracy": float((gold == predicted).mean()) if len(gold) else 0.0,
        "qwk": quadratic_weighted_kappa(gold, predicted, k),
        "roc_auc_relevant": roc_auc(gold >= relevant_from, scores),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(matrix[i].sum())} for i, name in enumerate(scheme.names)},
        "confusion_matrix": {"labels": scheme.names, "matrix": matrix.tolist()},
    }
    if cutpoints is not None:
        ordinal = ordinal_predictions(probabilities, cutpoints)
        report["ordinal"] = {"macro_f1": macro_f1(gold, ordinal, k),
                             "accuracy": float((gold == ordinal).mean()) if len(gold) else 0.0,
                             "qwk": quadratic_weighted_kappa(gold, ordinal, k), "cutpoints": list(cutpoints)}
    if query_keys is not None and len(gold):
        report["ci"] = query_bootstrap_intervals(gold, predicted, query_keys, k)
        if cutpoints is not None:
            report["ordinal"]["ci"] = query_bootstrap_intervals(gold, ordinal, query_keys, k)
    if query_keys is not None:
        by_query: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for key, score, gold_index in zip(query_keys, scores, gold):
            by_query[key].append((float(score), float(gold_index)))
        report["ndcg_at_10"] = ndcg_at_k(by_query, 10)
    return report


def query_members(groups: list[str] | np.ndarray) -> list[np.ndarray]:
    """The pair indices of each query (GROUPS: each pair's query key), queries in sorted order: the unit a query
    bootstrap resamples, because a query's pairs are not independent of each other."""
    # One stable sort by query instead of a scan of every pair per query: the evaluation calls this on every test set.
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.cumsum(np.bincount(inverse))[:-1])


def resample_queries(members: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap resample: as many queries as MEMBERS holds, drawn with replacement, each with all its pairs."""
    return np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])


BOOTSTRAP_RESAMPLES = 1000


def query_bootstrap_intervals(gold: np.ndarray, predicted: np.ndarray, groups: list[str] | np.ndarray, num_labels: int,
                              resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """95 % percentile intervals of macro-F1 and QWK of one set of predictions, from resampling whole queries
    (GROUPS: each pair's query key), the unit a query split holds out: with few test queries a figure is uncertain,
    and the interval says by how much. Deterministic for a given SEED."""
    gold, predicted, groups = np.asarray(gold), np.asarray(predicted), np.asarray(groups)
    if not (len(gold) == len(predicted) == len(groups)) or not len(gold):
        raise ValueError(f"query_bootstrap_intervals needs equal, non-empty arrays; got {len(gold)} gold, "
                         f"{len(predicted)} predictions, {len(groups)} query keys")
    members = query_members(groups)
    rng = np.random.default_rng(seed)
    f1s, qwks = [], []
    for _ in range(resamples):
        index = resample_queries(members, rng)
        f1s.append(macro_f1(gold[index], predicted[index], num_labels))
        qwks.append(quadratic_weighted_kappa(gold[index], predicted[index], num_labels))
    return {"macro_f1": [float(np.percentile(f1s, 2.5)), float(np.percentile(f1s, 97.5))],
            "qwk": [float(np.percentile(qwks, 2.5)), float(np.percentile(qwks, 97.5))],
            "queries": len(members), "resamples": resamples}


def paired_bootstrap(gold: np.ndarray, first: np.ndarray, second: np.ndarray, groups: list[str] | np.ndarray,
                     num_labels: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """Macro-F1 of FIRST minus that of SECOND on the same gold pairs, with a 95 % percentile interval from resampling
    whole queries (GROUPS: each pair's query key), the unit the data was split by. Both predictions see the same
    resample, so the interval is of the paired difference."""
    gold, first, second = np.asarray(gold), np.asarray(first), np.asarray(second)
    groups = np.asarray(groups)
    if not (len(gold) == len(first) == len(second) == len(groups)) or not len(gold):
        raise ValueError(f"paired_bootstrap needs equal, non-empty arrays; got {len(gold)} gold, {len(first)} and "
                         f"{len(second)} predictions, {len(groups)} query keys")
    members = query_members(groups)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(resamples):
        index = resample_queries(members, rng)
        samples.append(macro_f1(gold[index], first[index], num_labels) - macro_f1(gold[index], second[index], num_labels))
    return {"difference": macro_f1(gold, first, num_labels) - macro_f1(gold, second, num_labels),
            "ci": [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))],
            "pairs": int(len(gold)), "queries": len(members), "resamples": resamples}
