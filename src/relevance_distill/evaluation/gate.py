"""The release gate: a candidate ships only if it clears absolute thresholds and does not regress against
the model in production, measured on the same test set."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from relevance_distill.schemas import StrictModel


class GateConfig(StrictModel):
    """Thresholds of the release gate."""

    min_macro_f1: float = Field(default=0.5, ge=0, le=1, description="Lowest acceptable test macro-F1.")
    min_retention: float | None = Field(
        default=0.8, ge=0, description="Lowest student macro-F1 ÷ teacher macro-F1; None skips the check."
    )
    max_regression: float = Field(
        default=0.01, ge=0, description="Largest allowed drop of each compared metric against production (absolute)."
    )
    compared_metrics: list[str] = Field(
        default_factory=lambda: ["macro_f1", "qwk"],
        description="Metrics compared with the production model (keys of metrics.json 'test').",
    )
    max_p99_latency_ms: float | None = Field(
        default=None, gt=0, description="Highest acceptable p99 latency for one query × 50 services; None skips."
    )


def evaluate_gate(candidate: dict[str, Any], config: GateConfig, production: dict[str, Any] | None = None,
                  teacher_macro_f1: float | None = None) -> dict[str, Any]:
    """Decide pass/fail. ``candidate``/``production`` are metrics.json documents (``test`` section used).

    Returns ``{"passed": bool, "reasons": [...], "checks": [{name, value, threshold, passed}]}``; every failed
    check contributes one reason, and a missing input is reported rather than silently passed.
    """
    checks: list[dict[str, Any]] = []
    test = candidate["test"]

    def check(name: str, value: float | None, threshold: float, passed: bool, why: str) -> None:
        checks.append({"name": name, "value": value, "threshold": threshold, "passed": passed, "reason": why})

    value = test["macro_f1"]
    check("min_macro_f1", value, config.min_macro_f1, value >= config.min_macro_f1,
          f"macro-F1 {value:.4f} {'>=' if value >= config.min_macro_f1 else '<'} minimum {config.min_macro_f1}")
    if config.min_retention is not None:
        if teacher_macro_f1 is None or teacher_macro_f1 <= 0:
            check("min_retention", None, config.min_retention, False,
                  "retention cannot be checked: no teacher macro-F1 on the same gold set was given")
        else:
            retention = value / teacher_macro_f1
            check("min_retention", retention, config.min_retention, retention >= config.min_retention,
                  f"retention {retention:.4f} (student {value:.4f} / teacher {teacher_macro_f1:.4f}) "
                  f"{'>=' if retention >= config.min_retention else '<'} minimum {config.min_retention}")
    if production is not None:
        if production.get("test_set_sha256") and production.get("test_set_sha256") != candidate.get("test_set_sha256"):
            check("same_test_set", None, 0, False, "production metrics were measured on a different test set")
        for metric in config.compared_metrics:
            new, old = test.get(metric), production["test"].get(metric)
            if new is None or old is None:
                check(f"no_regression_{metric}", new, config.max_regression, False,
                      f"{metric} missing from {'candidate' if new is None else 'production'} metrics")
                continue
            drop = old - new
            check(f"no_regression_{metric}", new, old - config.max_regression, drop <= config.max_regression,
                  f"{metric} {new:.4f} vs production {old:.4f} (drop {drop:+.4f}, tolerance {config.max_regression})")
    if config.max_p99_latency_ms is not None:
        p99 = candidate.get("latency", {}).get("p99_ms")
        check("max_p99_latency_ms", p99, config.max_p99_latency_ms, p99 is not None and p99 <= config.max_p99_latency_ms,
              f"p99 latency {p99} ms vs maximum {config.max_p99_latency_ms} ms")
    failed = [c["reason"] for c in checks if not c["passed"]]
    return {"passed": not failed, "reasons": failed or [c["reason"] for c in checks], "checks": checks}
