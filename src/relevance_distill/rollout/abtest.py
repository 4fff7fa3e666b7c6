"""A/B analysis of a canary against the stable model from logged impressions.

Statistics (all on the user as the unit of randomisation, because impressions of one user are not
independent; users reach an arm through the sticky assignment of ``assignment.py``):

* **Units in both arms**: users seen in both arms were not randomised as the analysis assumes; they are counted,
  reported and left out of everything below, and more than ``max_crossover_share`` of them means the assignment
  is broken (decision ``rollback``, as for a sample-ratio mismatch).
* **Sample-ratio mismatch**: χ² test (1 d.o.f.) of users per variant against the *configured* split; a
  broken allocation invalidates every other number.
* **Ratio metrics** (CTR = clicks/impressions, CVR = orders/clicks, GTV per impression): per-variant
  ratio of user sums with delta-method variance
  ``Var(Σy/Σx) ≈ (s²_y − 2R·s_xy + R²·s²_x) / (N·x̄²)``.
* **Fixed-horizon test**: two-sided z-test of the difference; CI on the relative lift by the delta method.
* **Always-valid sequential test**: mixture SPRT (Johari, Pekelis & Walsh, 2017) with a normal mixing
  distribution on the difference, evaluated at ``checkpoints`` points in time; the reported p-value is the
  running minimum of 1/Λ, valid however often the analysis is re-run.
* **Guardrails**: error rate and p99 latency of the canary against stable.

Decision: ``rollback`` on SRM, a guardrail breach, or a primary (or secondary) metric significantly worse
under the sequential test; ``promote`` when the primary metric is significantly better under the sequential
test and nothing else objects; ``continue`` otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from relevance_distill.progress import report_result
from relevance_distill.schemas import StrictModel

VARIANTS = ("stable", "canary")
METRICS = {"ctr": ("clicks", "impressions"), "cvr": ("orders", "clicks"), "gtv": ("gtv", "impressions")}


class ABTestConfig(StrictModel):
    """Thresholds and settings of the A/B analysis."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level of both tests.")
    expected_split: float = Field(
        default=0.5, gt=0, lt=1, description="Configured share of users on the canary (never read from the log)."
    )
    srm_alpha: float = Field(default=0.001, gt=0, lt=1, description="p-value below which the split counts as broken.")
    primary_metric: Literal["ctr", "cvr", "gtv"] = Field(default="ctr", description="Metric that decides promotion.")
    mixture_relative_sd: float = Field(
        default=0.05, gt=0, description="mSPRT mixing s.d. as a share of the stable metric (the lift scale expected)."
    )
    checkpoints: int = Field(default=20, ge=1, description="Times (evenly spaced) at which the sequential test looks.")
    max_error_rate_increase: float = Field(default=0.005, ge=0, description="Guardrail: canary error rate − stable.")
    max_p99_latency_ratio: float = Field(default=1.2, gt=0, description="Guardrail: canary p99 ÷ stable p99 latency.")
    min_users_per_variant: int = Field(default=100, ge=1, description="Below this the decision is 'continue'.")
    max_crossover_share: float = Field(
        default=0.01, ge=0, le=1, description="Share of users seen in both arms above which the assignment counts as "
        "broken (they are always left out of the analysis).")


@dataclass
class EventColumns:
    """Columnar impressions: one entry per impression."""

    user: np.ndarray  # int user index
    variant: np.ndarray  # 0 stable, 1 canary
    click: np.ndarray
    order: np.ndarray
    gtv: np.ndarray
    timestamp: np.ndarray
    error: np.ndarray | None = None
    latency_ms: np.ndarray | None = None
    bad_case: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, mask: np.ndarray) -> EventColumns:
        optional = {name: getattr(self, name)[mask] if getattr(self, name) is not None else None
                    for name in ("error", "latency_ms", "bad_case")}
        return EventColumns(self.user[mask], self.variant[mask], self.click[mask], self.order[mask], self.gtv[mask],
                            self.timestamp[mask], **optional)


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def normal_quantile(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9 after one Newton step)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    a = [-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00]
    b = [-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01, -1.328068155288572e01]
    c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00]
    d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00]
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    elif p <= 1 - low:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    else:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    error = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    return x - error * math.sqrt(2 * math.pi) * math.exp(x * x / 2)


def srm_test(users_per_variant: tuple[int, int], expected_split: float) -> dict[str, float]:
    total = sum(users_per_variant)
    expected = (total * (1 - expected_split), total * expected_split)
    chi2 = sum((observed - e) ** 2 / e for observed, e in zip(users_per_variant, expected)) if total else 0.0
    return {"chi2": chi2, "p_value": math.erfc(math.sqrt(chi2 / 2)) if total else 1.0,
            "observed_split": users_per_variant[1] / total if total else float("nan"), "expected_split": expected_split}


def user_sums(events: EventColumns) -> dict[str, dict[str, np.ndarray]]:
    """Per variant, per user: impressions, clicks, orders, gtv (users are the independent units)."""
    sums: dict[str, dict[str, np.ndarray]] = {}
    for index, name in enumerate(VARIANTS):
        mask = events.variant == index
        users, inverse = np.unique(events.user[mask], return_inverse=True)
        count = len(users)
        sums[name] = {
            "impressions": np.bincount(inverse, minlength=count).astype(float),
            "clicks": np.bincount(inverse, weights=events.click[mask], minlength=count),
            "orders": np.bincount(inverse, weights=events.order[mask], minlength=count),
            "gtv": np.bincount(inverse, weights=events.gtv[mask], minlength=count),
        }
    return sums


def ratio_with_variance(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
    """Ratio of sums and its delta-method variance over independent units."""
    n = len(numerator)
    if n < 2 or denominator.sum() == 0:
        return float("nan"), float("nan")
    mean_x, mean_y = denominator.mean(), numerator.mean()
    ratio = mean_y / mean_x
    covariance = np.cov(numerator, denominator, ddof=1)
    variance = (covariance[0, 0] - 2 * ratio * covariance[0, 1] + ratio**2 * covariance[1, 1]) / (n * mean_x**2)
    return float(ratio), float(max(variance, 0.0))


def msprt_p_value(difference: float, variance: float, mixing_variance: float) -> float:
    """1/Λ of the normal-mixture SPRT for H0: difference = 0 (capped at 1)."""
    if not (variance > 0 and math.isfinite(difference)):
        return 1.0
    log_lambda = 0.5 * math.log(variance / (variance + mixing_variance)) + (
        mixing_variance * difference**2 / (2 * variance * (variance + mixing_variance)))
    return float(min(1.0, math.exp(-log_lambda)))


def compare_metric(sums: dict[str, dict[str, np.ndarray]], metric: str, alpha: float) -> dict[str, Any]:
    numerator_key, denominator_key = METRICS[metric]
    stable, stable_var = ratio_with_variance(sums["stable"][numerator_key], sums["stable"][denominator_key])
    canary, canary_var = ratio_with_variance(sums["canary"][numerator_key], sums["canary"][denominator_key])
    difference = canary - stable
    standard_error = math.sqrt(stable_var + canary_var) if stable_var + canary_var > 0 else float("nan")
    z = difference / standard_error if standard_error and math.isfinite(standard_error) else float("nan")
    lift = difference / stable if stable else float("nan")
    # Delta method for the relative lift canary/stable − 1.
    lift_se = math.sqrt(canary_var / stable**2 + canary**2 * stable_var / stable**4) if stable else float("nan")
    z_crit = normal_quantile(1 - alpha / 2)
    return {"stable": stable, "canary": canary, "difference": difference, "lift": lift,
            "ci_low": lift - z_crit * lift_se, "ci_high": lift + z_crit * lift_se,
            "p_value": normal_two_sided_p(z) if math.isfinite(z) else 1.0,
            "variance": stable_var + canary_var}


def users_in_both_arms(events: EventColumns) -> np.ndarray:
    """Indices of users with impressions in both arms."""
    arms = np.zeros((int(events.user.max()) + 1 if len(events) else 0, 2), dtype=bool)
    arms[events.user, events.variant] = True
    return np.nonzero(arms.all(axis=1))[0]


def analyze_events(events: EventColumns, config: ABTestConfig | None = None) -> dict[str, Any]:
    config = config or ABTestConfig()
    crossed = users_in_both_arms(events)
    seen = len(np.unique(events.user)) if len(events) else 0
    crossover = {"users": int(len(crossed)), "share": len(crossed) / seen if seen else 0.0,
                 "max_share": config.max_crossover_share}
    if len(crossed):
        events = events.subset(~np.isin(events.user, crossed))
    sums = user_sums(events)
    users = (len(sums["stable"]["impressions"]), len(sums["canary"]["impressions"]))
    srm = srm_test(users, config.expected_split)
    metrics = {name: compare_metric(sums, name, config.alpha) for name in METRICS}

    # Sequential: look at evenly spaced times, keep the running minimum of the always-valid p-value.
    if len(events):
        cuts = np.quantile(events.timestamp, np.linspace(0, 1, config.checkpoints + 1)[1:])
    else:
        cuts = np.array([])
    sequential = {name: 1.0 for name in METRICS}
    for cut in cuts:
        part = user_sums(events.subset(events.timestamp <= cut))
        if min(len(part["stable"]["impressions"]), len(part["canary"]["impressions"])) < 2:
            continue
        for name in METRICS:
            result = compare_metric(part, name, config.alpha)
            mixing = (config.mixture_relative_sd * result["stable"]) ** 2 if math.isfinite(result["stable"]) else 0.0
            if mixing > 0:
                sequential[name] = min(sequential[name], msprt_p_value(result["difference"], result["variance"], mixing))
    for name in METRICS:
        metrics[name]["sequential_p_value"] = sequential[name]

    guardrails = _guardrails(events, config)
    bad_case = _bad_case_rates(events)
    decision, reasons = _decide(srm, metrics, guardrails, users, config, crossover)
    return {"decision": decision, "reasons": reasons, "users": dict(zip(VARIANTS, users)), "users_in_both_arms": crossover,
            "impressions": {name: int((events.variant == i).sum()) for i, name in enumerate(VARIANTS)},
            "srm": srm, "metrics": metrics, "guardrails": guardrails, "bad_case_rate": bad_case,
            "config": config.model_dump()}


def _guardrails(events: EventColumns, config: ABTestConfig) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if events.error is not None:
        rates = [float(events.error[events.variant == i].mean()) if (events.variant == i).any() else 0.0 for i in (0, 1)]
        result["error_rate"] = {"stable": rates[0], "canary": rates[1],
                                "passed": rates[1] - rates[0] <= config.max_error_rate_increase}
    if events.latency_ms is not None:
        p99 = [float(np.percentile(events.latency_ms[events.variant == i], 99)) if (events.variant == i).any() else 0.0
               for i in (0, 1)]
        result["p99_latency_ms"] = {"stable": p99[0], "canary": p99[1],
                                    "passed": p99[0] == 0 or p99[1] / p99[0] <= config.max_p99_latency_ratio}
    return result


def _bad_case_rates(events: EventColumns) -> dict[str, float] | None:
    if events.bad_case is None:
        return None
    return {name: float(events.bad_case[events.variant == i].mean()) if (events.variant == i).any() else float("nan")
            for i, name in enumerate(VARIANTS)}


def _decide(srm, metrics, guardrails, users, config, crossover) -> tuple[str, list[str]]:
    if crossover["share"] > config.max_crossover_share:
        return "rollback", [f"{crossover['users']} users ({crossover['share']:.2%}) were seen in both arms, more than "
                            f"{config.max_crossover_share:.2%}: the front end does not keep users on their assigned arm "
                            "(assignment.assign and the latest-/prev- addresses), so no metric can be trusted"]
    if srm["p_value"] < config.srm_alpha:
        return "rollback", [f"sample ratio mismatch: canary share {srm['observed_split']:.4f} vs configured "
                            f"{srm['expected_split']}, p = {srm['p_value']:.2e} < {config.srm_alpha}; the allocation "
                            "is broken, so no metric can be trusted"]
    breaches = [f"guardrail {name}: canary {g['canary']:.4g} vs stable {g['stable']:.4g}"
                for name, g in guardrails.items() if not g["passed"]]
    if breaches:
        return "rollback", breaches
    worse = [f"{name} significantly worse: lift {m['lift']:+.2%} (CI {m['ci_low']:+.2%} … {m['ci_high']:+.2%}), "
             f"sequential p = {m['sequential_p_value']:.3g}"
             for name, m in metrics.items() if m["lift"] < 0 and m["sequential_p_value"] < config.alpha]
    if worse:
        return "rollback", worse
    if min(users) < config.min_users_per_variant:
        return "continue", [f"only {min(users)} users in the smaller variant; need {config.min_users_per_variant}"]
    primary = metrics[config.primary_metric]
    if primary["lift"] > 0 and primary["sequential_p_value"] < config.alpha:
        return "promote", [f"{config.primary_metric} lift {primary['lift']:+.2%} (CI {primary['ci_low']:+.2%} … "
                           f"{primary['ci_high']:+.2%}), sequential p = {primary['sequential_p_value']:.3g} < {config.alpha}; "
                           "no guardrail or metric objects"]
    return "continue", [f"{config.primary_metric} lift {primary['lift']:+.2%}, sequential p = "
                        f"{primary['sequential_p_value']:.3g} >= {config.alpha}: not yet conclusive"]


# -- event files ---------------------------------------------------------------------------------------

EVENT_FIELDS = ("timestamp", "request_id", "user_id", "variant", "model_version", "query", "item", "position",
                "click", "order", "gtv")


def load_events(uri: str) -> tuple[EventColumns, dict[str, int]]:
    """Read an event log (JSONL or Parquet, local or s3://); malformed rows are counted, never used."""
    from relevance_distill.data.readers import iter_rows

    return events_from_rows(row for _, row in iter_rows(uri))


def logged_rows(events_uri: str, canary_version: str, outcomes_uri: str | None = None) -> tuple[list[dict], dict[str, int]]:
    """Impression rows (the event-log schema) from what the event sink wrote under EVENTS_URI: a request and its
    response joined by id make one impression of the request's unit, on the canary when the response names
    CANARY_VERSION; clicks, orders and GTV join from OUTCOMES_URI (JSONL ``{request_id, click, order, gtv}``, from
    the user's own click log) by request id, 0 when absent. A request without a response counts as an error; the
    time between them is the latency. Requests without a unit cannot be analysed per user and are counted apart."""
    from relevance_distill import storage
    from relevance_distill.data.readers import iter_jsonl, iter_rows

    parts = [name for name in storage.list_files(events_uri) if name.rsplit("/", 1)[-1].startswith("part-")]
    if not parts:
        raise FileNotFoundError(f"{events_uri} holds no part-*.jsonl files of the event sink")
    requests: dict[str, dict] = {}
    responses: dict[str, dict] = {}
    counts = {"events": 0, "malformed_events": 0, "requests_without_unit": 0, "responses_without_request": 0}
    for name in parts:
        for _, row in iter_jsonl(storage.join(events_uri, name)):
            counts["events"] += 1
            if not isinstance(row, dict) or row.get("kind") not in {"request", "response"} or not row.get("id"):
                counts["malformed_events"] += 1
                continue
            (requests if row["kind"] == "request" else responses)[row["id"]] = row
    outcomes: dict[str, dict] = {}
    if outcomes_uri:
        for _, row in iter_rows(outcomes_uri):
            if isinstance(row, dict) and row.get("request_id"):
                outcomes[str(row["request_id"])] = row
    counts["responses_without_request"] = len(set(responses) - set(requests))
    rows = []
    for request_id, request in requests.items():
        response = responses.get(request_id) or {}
        unit = request.get("unit") or response.get("unit")
        if not unit:
            counts["requests_without_unit"] += 1
            continue
        began = _epoch(request["time"])
        outcome = outcomes.get(request_id, {})
        row = {"timestamp": began, "request_id": request_id, "user_id": unit,
               "variant": "canary" if response.get("model_version") == canary_version else "stable",
               "model_version": response.get("model_version"), "click": outcome.get("click", 0),
               "order": outcome.get("order", 0), "gtv": outcome.get("gtv", 0.0), "error": 0 if response else 1}
        if response:
            row["latency_ms"] = max(0.0, (_epoch(response["time"]) - began) * 1000)
        rows.append(row)
    return rows, counts


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def events_from_rows(rows) -> tuple[EventColumns, dict[str, int]]:
    """Columns from rows of the event-log schema; malformed rows are counted, never used."""
    columns: dict[str, list] = {key: [] for key in ("user", "variant", "click", "order", "gtv", "timestamp",
                                                    "error", "latency_ms", "bad_case")}
    user_index: dict[str, int] = {}
    counts = {"rows": 0, "used": 0, "malformed": 0}
    optional_seen = {"error": True, "latency_ms": True, "bad_case": True}
    for row in rows:
        counts["rows"] += 1
        try:
            if not isinstance(row, dict) or row["variant"] not in VARIANTS:
                raise ValueError
            user = user_index.setdefault(str(row["user_id"]), len(user_index))
            values = (VARIANTS.index(row["variant"]), float(row["click"]), float(row["order"]), float(row["gtv"]),
                      float(row["timestamp"]))
        except (KeyError, TypeError, ValueError):
            counts["malformed"] += 1
            continue
        columns["user"].append(user)
        for key, value in zip(("variant", "click", "order", "gtv", "timestamp"), values):
            columns[key].append(value)
        for key in ("error", "latency_ms", "bad_case"):
            if key in row and row[key] is not None:
                columns[key].append(float(row[key]))
            else:
                optional_seen[key] = False
        counts["used"] += 1
    events = EventColumns(
        user=np.array(columns["user"], dtype=np.int64), variant=np.array(columns["variant"], dtype=np.int64),
        click=np.array(columns["click"]), order=np.array(columns["order"]), gtv=np.array(columns["gtv"]),
        timestamp=np.array(columns["timestamp"]),
        **{key: np.array(columns[key]) if optional_seen[key] and columns[key] else None
           for key in ("error", "latency_ms", "bad_case")},
    )
    return events, counts


def decision_document(analysis: dict[str, Any], counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The decision.json document: decision, reasons, SRM and each metric's lift, CI and p-values."""
    document = {"decision": analysis["decision"], "reasons": analysis["reasons"], "users": analysis["users"],
                "users_in_both_arms": analysis["users_in_both_arms"],
                "impressions": analysis["impressions"], "srm": analysis["srm"], "guardrails": analysis["guardrails"],
                "bad_case_rate": analysis["bad_case_rate"], "config": analysis["config"]}
    for name, metric in analysis["metrics"].items():
        document[name] = {key: metric[key] for key in ("stable", "canary", "lift", "ci_low", "ci_high", "p_value",
                                                       "sequential_p_value")}
    if counts is not None:
        document["rows"] = counts
    return document


def write_report(document: dict[str, Any], out_dir: str | Path) -> Path:
    """decision.json, a lift ± CI plot and an HTML page."""
    import base64
    import html

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decision.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    names = list(METRICS)
    figure, axis = plt.subplots(figsize=(6, 3))
    lifts = [document[n]["lift"] * 100 for n in names]
    errors = [[(document[n]["lift"] - document[n]["ci_low"]) * 100 for n in names],
              [(document[n]["ci_high"] - document[n]["lift"]) * 100 for n in names]]
    axis.errorbar(lifts, range(len(names)), xerr=errors, fmt="o", capsize=5)
    axis.axvline(0, color="grey", linestyle="--")
    axis.set_yticks(range(len(names)), [n.upper() for n in names])
    axis.set_xlabel(f"relative lift of canary, % (±{(1 - document['config']['alpha']) * 100:.0f}% CI)")
    figure.tight_layout()
    figure.savefig(out / "lift.png", dpi=110)
    plt.close(figure)
    image = base64.b64encode((out / "lift.png").read_bytes()).decode()
    rows = "".join(
        f"<tr><td>{n}</td><td>{document[n]['stable']:.5g}</td><td>{document[n]['canary']:.5g}</td>"
        f"<td>{document[n]['lift']:+.2%}</td><td>{document[n]['ci_low']:+.2%} … {document[n]['ci_high']:+.2%}</td>"
        f"<td>{document[n]['p_value']:.3g}</td><td>{document[n]['sequential_p_value']:.3g}</td></tr>" for n in names)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>A/B analysis</title></head><body>
<h1>A/B analysis: {html.escape(document['decision'].upper())}</h1><ul>{''.join(f'<li>{html.escape(r)}</li>' for r in document['reasons'])}</ul>
<p>users {document['users']} ({document['users_in_both_arms']['users']} seen in both arms, left out), SRM p = {document['srm']['p_value']:.3g} (canary share {document['srm']['observed_split']:.4f}, configured {document['srm']['expected_split']})</p>
<table border="1"><tr><th>metric</th><th>stable</th><th>canary</th><th>lift</th><th>CI</th><th>p (fixed)</th><th>p (sequential)</th></tr>{rows}</table>
<img src="data:image/png;base64,{image}"></body></html>"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return out / "decision.json"


def load_experiment(events_uri: str, canary_version: str = "", outcomes_uri: str = "") -> tuple[EventColumns, dict[str, int]]:
    """With CANARY_VERSION: the event sink's part files under EVENTS_URI (joined with OUTCOMES_URI); without: an
    impression log (JSONL or Parquet)."""
    if not canary_version:
        return load_events(events_uri)
    rows, logged = logged_rows(events_uri, canary_version, outcomes_uri or None)
    columns, counts = events_from_rows(rows)
    return columns, {**counts, **logged}


def analysis_step(events_uri: str, config: ABTestConfig, out_dir: str | Path, canary_version: str = "",
                  outcomes_uri: str = "") -> dict[str, Any]:
    """The A/B analysis step: load the experiment (``load_experiment``), analyse it, write ``decision.json`` and the
    report into OUT_DIR. Returns the decision document with ``scalars`` (lifts, sequential p-values, SRM p-value) for
    KFP."""
    columns, counts = load_experiment(events_uri, canary_version, outcomes_uri)
    document = decision_document(analyze_events(columns, config), counts)
    write_report(document, out_dir)
    report_result(f"A/B decision {document['decision']}: CTR lift {document['ctr']['lift']:+.2%}, "
                  f"sequential p {document['ctr']['sequential_p_value']:.3f}")
    scalars = {"srm_p_value": document["srm"]["p_value"]}
    for name in ("ctr", "cvr", "gtv"):
        scalars[f"{name}_lift"] = document[name]["lift"]
        scalars[f"{name}_sequential_p_value"] = document[name]["sequential_p_value"]
    # A lift is undefined (NaN) when the stable arm's mean is 0 (e.g. no GTV in the log); KFP metrics cannot hold
    # NaN, so an undefined scalar is left out of them (decision.json still has it).
    return {**document, "scalars": {key: float(value) for key, value in scalars.items() if math.isfinite(value)}}
