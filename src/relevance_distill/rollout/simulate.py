"""Traffic simulator: event logs of a stable and a canary ranking model with known ground truth.

A pool of queries with candidates of known true relevance grade (the built-in gold data by default) is
ranked by each variant's model scores. Users are assigned to an arm by ``assignment.assign`` (the salted hash a front
end applies; the salt is the seed), with ``allocation`` as the canary share (set it away from the configured split
to simulate a broken allocation); ``crossover`` of the users ignore their assignment and land in a random arm on each
search (a front end that does not stick to it). Each session
shows the top ``results_per_session`` candidates; clicks follow a position-biased cascade-free model

    P(click | position k, grade g) = (1 / (k + 1)) ** examination_decay · attractiveness[g] · (1 + lift_v)

with ``lift_v = true_ctr_lift`` on the canary and 0 on stable, so the true CTR lift is known exactly when
both variants rank alike (and is the ranking effect plus the knob otherwise). Orders follow clicks with a
grade-dependent rate; GTV is the item's price. Everything is seeded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from relevance_distill.rollout.abtest import VARIANTS, EventColumns
from relevance_distill.rollout.assignment import bucket
from relevance_distill.schemas import QueryServicePair


@dataclass(frozen=True)
class ClickModel:
    attractiveness: tuple[float, ...] = (0.02, 0.06, 0.15, 0.30)
    order_rate: tuple[float, ...] = (0.0, 0.02, 0.06, 0.12)
    examination_decay: float = 1.0


@dataclass
class QueryPool:
    """Per query: candidate grades, prices, ids and each variant's model scores."""

    queries: list[str]
    grades: list[np.ndarray]
    prices: list[np.ndarray]
    items: list[list[str]]
    scores: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, pairs: list[QueryServicePair], grade_of: dict[str, int], seed: int = 0,
                   stable_scores: dict[str, float] | None = None, canary_scores: dict[str, float] | None = None,
                   noise: float = 0.8) -> QueryPool:
        """Without model scores both variants rank by the same noisy view of the true grade (an A/A ranking)."""
        rng = np.random.default_rng(seed)
        grouped: dict[str, list[QueryServicePair]] = defaultdict(list)
        for pair in pairs:
            if pair.label is not None:
                grouped[pair.query].append(pair)
        pool = cls([], [], [], [], {name: [] for name in VARIANTS})
        for query in sorted(grouped):
            candidates = grouped[query]
            grades = np.array([grade_of[p.label] for p in candidates])
            shared = grades + rng.normal(0, noise, len(candidates))
            pool.queries.append(query)
            pool.grades.append(grades)
            pool.prices.append(np.array([p.service.price or 0.0 for p in candidates]))
            pool.items.append([p.service.service_id for p in candidates])
            for name, given in (("stable", stable_scores), ("canary", canary_scores)):
                pool.scores[name].append(np.array([given[p.pair_id] for p in candidates]) if given else shared)
        return pool

    def ranked(self, variant: str, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grades, prices, scores) of each query's top ``depth`` by the variant's scores; -1 grade pads."""
        grades = np.full((len(self.queries), depth), -1, dtype=np.int64)
        prices = np.zeros((len(self.queries), depth))
        scores = np.zeros((len(self.queries), depth))
        for q, variant_scores in enumerate(self.scores[variant]):
            order = np.argsort(-variant_scores, kind="stable")[:depth]
            grades[q, : len(order)] = self.grades[q][order]
            prices[q, : len(order)] = self.prices[q][order]
            scores[q, : len(order)] = variant_scores[order]
        return grades, prices, scores


def simulate(pool: QueryPool, users: int, split: float = 0.5, true_ctr_lift: float = 0.0, seed: int = 0,
             allocation: float | None = None, sessions_per_user: float = 2.0, results_per_session: int = 8,
             duration_s: float = 7 * 86400, click_model: ClickModel | None = None,
             error_rate: tuple[float, float] = (0.001, 0.001), latency_ms: tuple[float, float] = (20.0, 20.0),
             bad_case_below: float | None = None, crossover: float = 0.0) -> tuple[EventColumns, dict[str, np.ndarray]]:
    """Impressions of ``users`` users; ``allocation`` (default ``split``) is the true canary share.

    Returns the events and, per impression, the query index into ``pool`` and the 0-based position.
    """
    click_model = click_model or ClickModel()
    rng = np.random.default_rng(seed)
    share = split if allocation is None else allocation
    user_variant = np.array([bucket(f"u{user}", f"seed-{seed}") < share for user in range(users)], dtype=np.int64)
    sessions = rng.poisson(sessions_per_user - 1, users) + 1 if sessions_per_user > 1 else np.ones(users, dtype=np.int64)
    session_user = np.repeat(np.arange(users), sessions)
    session_variant = user_variant[session_user]
    if crossover > 0:
        loose = (rng.random(users) < crossover)[session_user]
        session_variant = np.where(loose, (rng.random(len(session_user)) < share).astype(np.int64), session_variant)
    session_query = rng.integers(0, len(pool.queries), len(session_user))
    session_time = rng.uniform(0, duration_s, len(session_user))

    depth = results_per_session
    ranked = {v: pool.ranked(name, depth) for v, name in enumerate(VARIANTS)}
    grade = np.where(session_variant[:, None] == 1, ranked[1][0][session_query], ranked[0][0][session_query])
    price = np.where(session_variant[:, None] == 1, ranked[1][1][session_query], ranked[0][1][session_query])
    score = np.where(session_variant[:, None] == 1, ranked[1][2][session_query], ranked[0][2][session_query])
    shown = grade >= 0
    examination = (1.0 / np.arange(1, depth + 1)) ** click_model.examination_decay
    attractiveness = np.array(click_model.attractiveness)[np.clip(grade, 0, None)]
    lift = np.where(session_variant == 1, 1 + true_ctr_lift, 1.0)[:, None]
    click = (rng.random(grade.shape) < np.clip(examination * attractiveness * lift, 0, 1)) & shown
    order = click & (rng.random(grade.shape) < np.array(click_model.order_rate)[np.clip(grade, 0, None)])

    rows = np.nonzero(shown)
    session_index = rows[0]
    variant = session_variant[session_index]
    error = rng.random(len(session_index)) < np.array(error_rate)[variant]
    latency = rng.lognormal(np.log(np.array(latency_ms)[variant]), 0.35)
    bad_case = score[rows] < bad_case_below if bad_case_below is not None else None
    context = {"query_index": session_query[session_index], "position": rows[1]}
    return EventColumns(
        user=session_user[session_index], variant=variant, click=click[rows].astype(float),
        order=order[rows].astype(float), gtv=(order * price)[rows], timestamp=session_time[session_index],
        error=error.astype(float), latency_ms=latency, bad_case=bad_case.astype(float) if bad_case is not None else None,
    ), context


def events_to_rows(events: EventColumns, context: dict[str, np.ndarray], pool: QueryPool,
                   versions: tuple[str, str] = ("stable", "canary")):
    """Row dicts in the event-log schema (for JSONL/Parquet files)."""
    depth = int(context["position"].max()) + 1 if len(events) else 0
    ranked_items = {v: _ranked_items(pool, name, depth) for v, name in enumerate(VARIANTS)}
    for index in range(len(events)):
        variant = int(events.variant[index])
        query, position = int(context["query_index"][index]), int(context["position"][index])
        row = {"timestamp": float(events.timestamp[index]), "request_id": f"r{index}",
               "user_id": f"u{int(events.user[index])}", "variant": VARIANTS[variant],
               "model_version": versions[variant], "query": pool.queries[query],
               "item": ranked_items[variant][query][position], "position": position,
               "click": int(events.click[index]), "order": int(events.order[index]), "gtv": float(events.gtv[index])}
        if events.error is not None:
            row["error"] = int(events.error[index])
        if events.latency_ms is not None:
            row["latency_ms"] = round(float(events.latency_ms[index]), 3)
        if events.bad_case is not None:
            row["bad_case"] = int(events.bad_case[index])
        yield row


def _ranked_items(pool: QueryPool, variant: str, depth: int) -> list[list[str]]:
    return [[pool.items[q][i] for i in np.argsort(-scores, kind="stable")[:depth]]
            for q, scores in enumerate(pool.scores[variant])]


def replay_scores(test_pairs: list[QueryServicePair], grade_names: list[str], stable_scores: dict[str, float],
                  canary_scores: dict[str, float], users: int, split: float, seed: int,
                  versions: tuple[str, str] = ("stable", "canary")) -> list[dict]:
    """Replay two models' test-set scores as an A/B experiment: each variant ranks the gold test pairs of a query
    by its own scores, users click by the position-biased model on the true (gold) grades. Returns the impression
    rows (event-log schema) of ``users`` users with ``split`` of them on the canary."""
    grade_of = {name: index for index, name in enumerate(grade_names)}
    pool = QueryPool.from_pairs(test_pairs, grade_of, seed=seed, stable_scores=stable_scores, canary_scores=canary_scores)
    events, context = simulate(pool, users, split=split, seed=seed)
    return list(events_to_rows(events, context, pool, versions))
