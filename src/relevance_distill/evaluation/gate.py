"""The release gate: a candidate ships only if it clears absolute thresholds and does not regress against
the model in production, measured on the same test set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from relevance_distill.schemas import StrictModel


class GateConfig(StrictModel):
    """Thresholds of the release gate."""

    min_macro_f1: float = Field(default=0.5, ge=0, le=1, description="Lowest acceptable test macro-F1.")
    min_retention: float = Field(
        default=0.8, ge=0, description="Lowest student macro-F1 ÷ teacher macro-F1 on the same test set; 0 skips the check."
    )
    max_regression: float = Field(
        default=0.01, ge=0, description="Largest allowed drop of each compared metric against production (absolute)."
    )
    compared_metrics: list[str] = Field(
        default_factory=lambda: ["macro_f1", "qwk"],
        description="Metrics compared with the production model (keys of metrics.json 'test').",
    )
    decoding: Literal["argmax", "ordinal"] = Field(
        default="argmax", description="Which decoder's test metrics the gate checks: 'argmax' (most probable label) or "
        "'ordinal' (expected grade with cut-points tuned on dev for QWK).")
    max_p99_latency_ms: float | None = Field(
        default=None, gt=0, description="Highest acceptable p99 latency for one query × 50 services; None skips."
    )


def decoded_metrics(metrics: dict[str, Any], decoding: str) -> dict[str, Any]:
    """The test metrics of one decoder from a metrics.json document."""
    if decoding == "argmax":
        return metrics["test"]
    if decoding == "ordinal":
        if "ordinal" not in metrics["test"]:
            raise ValueError("decoding 'ordinal' needs the ordinal metrics (the model has no decoding.json: it was "
                             "trained before cut-points were tuned); allowed here: 'argmax'")
        return metrics["test"]["ordinal"]
    raise ValueError(f"unknown decoding {decoding!r}; allowed: ['argmax', 'ordinal']")


def evaluate_gate(candidate: dict[str, Any], config: GateConfig, production: dict[str, Any] | None = None,
                  teacher_macro_f1: float | None = None) -> dict[str, Any]:
    """Decide pass/fail. ``candidate``/``production`` are metrics.json documents (``test`` section used); the
    teacher's macro-F1 defaults to the one the evaluation measured retention with (``candidate["teacher_macro_f1"]``).

    Returns ``{"passed": bool, "reasons": [...], "checks": [{name, value, threshold, passed}]}``; every failed
    check contributes one reason, and a missing input is reported rather than silently passed.
    """
    checks: list[dict[str, Any]] = []
    test = decoded_metrics(candidate, config.decoding)
    teacher_macro_f1 = teacher_macro_f1 or candidate.get("teacher_macro_f1")

    def check(name: str, value: float | None, threshold: float, passed: bool, why: str) -> None:
        checks.append({"name": name, "value": value, "threshold": threshold, "passed": passed, "reason": why})

    value = test["macro_f1"]
    check("min_macro_f1", value, config.min_macro_f1, value >= config.min_macro_f1,
          f"macro-F1 ({config.decoding}) {value:.4f} {'>=' if value >= config.min_macro_f1 else '<'} minimum {config.min_macro_f1}")
    if config.min_retention > 0:
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
            new, old = test.get(metric), decoded_metrics(production, config.decoding).get(metric)
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


def gate_evaluation(evaluation_dir: str | Path, config: GateConfig, production: dict[str, Any] | None = None,
                    teacher_macro_f1: float | None = None) -> dict[str, Any]:
    """The release decision for an evaluation directory (its ``metrics.json``: the primary method's metrics)."""
    path = Path(evaluation_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{evaluation_dir} has no metrics.json: pass the output of the evaluation step")
    candidate = json.loads(path.read_text(encoding="utf-8"))
    return evaluate_gate(candidate, config, production, teacher_macro_f1)
