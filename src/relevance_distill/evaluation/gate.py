"""The release gate: which student a run publishes, if any.

The distilled student is compared with the gold-only student trained in the same run, on dev (the test set is only
read to report): when it trails by more than ``max_loss_to_gold_only`` the run publishes the gold-only student or
fails (``when_worse_than_gold_only``). The published student must then clear absolute thresholds and not regress
against the model in production, measured on the same test set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill.config import GOLD_ONLY_METHOD, GateConfig, concrete_decoding
from relevance_distill.layout import EVALUATION_SUMMARY


def resolve_decoding(decoding: str, metrics: dict[str, Any]) -> str:
    """DECODING with 'auto' made concrete for a metrics.json document (``concrete_decoding``): 'ordinal' when the
    model has cut-points for a graded scheme (K - 1 of them for K labels), else 'argmax'."""
    if decoding != "auto":
        return decoding
    ordinal = metrics.get("test", {}).get("ordinal") or {}
    return concrete_decoding(decoding, len(ordinal.get("cutpoints") or []) + 1)


def decoded_metrics(metrics: dict[str, Any], decoding: str) -> dict[str, Any]:
    """The test metrics of one decoder from a metrics.json document."""
    decoding = resolve_decoding(decoding, metrics)
    if decoding == "argmax":
        return metrics["test"]
    if decoding == "ordinal":
        if "ordinal" not in metrics["test"]:
            raise ValueError("decoding 'ordinal' needs the ordinal metrics (the model has no decoding.json: it was "
                             "trained before cut-points were tuned); allowed here: 'argmax'")
        return metrics["test"]["ordinal"]
    raise ValueError(f"unknown decoding {decoding!r}; allowed: ['argmax', 'ordinal']")


def evaluate_gate(candidate: dict[str, Any], config: GateConfig, production: dict[str, Any] | None = None,
                  teacher_macro_f1: float | None = None, distilled: bool = True,
                  decided_before: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Decide pass/fail. ``candidate``/``production`` are metrics.json documents (``test`` section used); the
    teacher's macro-F1 defaults to the one the evaluation measured retention with (``candidate["teacher_macro_f1"]``).

    Returns ``{"passed": bool, "reasons": [...], "checks": [{name, value, threshold, passed}]}``; every failed
    check contributes one reason, and a missing input is reported rather than silently passed. DECIDED_BEFORE are
    checks made before the candidate was chosen (the comparison with the gold-only student); they come first.
    """
    checks: list[dict[str, Any]] = list(decided_before or [])
    config = config.model_copy(update={"decoding": resolve_decoding(config.decoding, candidate)})
    test = decoded_metrics(candidate, config.decoding)
    teacher_macro_f1 = teacher_macro_f1 or candidate.get("teacher_macro_f1")

    def check(name: str, value: float | None, threshold: float, passed: bool, why: str) -> None:
        checks.append({"name": name, "value": value, "threshold": threshold, "passed": passed, "reason": why})

    value = test["macro_f1"]
    check("min_macro_f1", value, config.min_macro_f1, value >= config.min_macro_f1,
          f"macro-F1 ({config.decoding}) {value:.4f} {'>=' if value >= config.min_macro_f1 else '<'} minimum {config.min_macro_f1}")
    if config.min_retention > 0 and not distilled:
        check("min_retention", None, config.min_retention, True,
              "retention not checked: the gold-only student learns nothing from the teacher")
    elif config.min_retention > 0:
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
        # Production under the same decoder when its metrics have it; else argmax (what an export made before
        # decodings were recorded serves).
        served = config.decoding if "ordinal" in production.get("test", {}) else "argmax"
        for metric in config.compared_metrics:
            new, old = test.get(metric), decoded_metrics(production, served).get(metric)
            if new is None or old is None:
                check(f"no_regression_{metric}", new, config.max_regression, False,
                      f"{metric} missing from {'candidate' if new is None else 'production'} metrics")
                continue
            drop = old - new
            check(f"no_regression_{metric}", new, old - config.max_regression, drop <= config.max_regression,
                  f"{metric} {new:.4f} ({config.decoding}) vs production {old:.4f} ({served}) (drop {drop:+.4f}, "
                  f"tolerance {config.max_regression})")
    if config.max_p99_latency_ms is not None:
        p99 = candidate.get("latency", {}).get("p99_ms")
        check("max_p99_latency_ms", p99, config.max_p99_latency_ms, p99 is not None and p99 <= config.max_p99_latency_ms,
              f"p99 latency {p99} ms vs maximum {config.max_p99_latency_ms} ms")
    failed = [c["reason"] for c in checks if not c["passed"]]
    return {"passed": not failed, "reasons": failed or [c["reason"] for c in checks], "checks": checks,
            "decoding": config.decoding}


def published_against_gold_only(summary: dict[str, Any], config: GateConfig) -> tuple[str | None, dict[str, Any] | None]:
    """The method to publish after comparing the evaluation's primary (distilled) method with the gold-only student
    on dev, and the check that says why (None when there is nothing to compare or the comparison is off)."""
    candidate = summary.get("primary")
    if (config.max_loss_to_gold_only is None or candidate in (None, GOLD_ONLY_METHOD)
            or GOLD_ONLY_METHOD not in summary.get("macro_f1", {})):
        return candidate, None
    comparison = summary.get("versus_gold_only", {}).get(candidate, {}).get(config.decoding)
    if comparison is None:
        return candidate, {"name": "not_worse_than_gold_only", "value": None, "threshold": config.max_loss_to_gold_only,
                           "passed": False, "outcome": "failed",
                           "reason": f"{candidate} cannot be compared with {GOLD_ONLY_METHOD} on dev: the evaluation has "
                                     "no dev metrics (evaluate with the dev split, or set gate.max_loss_to_gold_only to "
                                     "null to skip the comparison)"}
    difference, (low, high) = comparison["difference"], comparison["ci"]
    within = -difference <= config.max_loss_to_gold_only
    measured = (f"{candidate} − {GOLD_ONLY_METHOD} dev macro-F1 ({config.decoding}) {difference:+.4f} "
                f"[{low:+.4f}, {high:+.4f}], {comparison['queries']} queries, allowed loss {config.max_loss_to_gold_only}")
    if within:
        outcome, reason = "distilled", f"{measured}: {candidate} published"
    elif config.when_worse_than_gold_only == "publish_gold_only":
        outcome, reason = "gold_only", f"{measured}: trails the gold-only student, {GOLD_ONLY_METHOD} published instead"
    else:
        outcome, reason = "failed", f"{measured}: trails the gold-only student"
    check = {"name": "not_worse_than_gold_only", "value": difference, "threshold": -config.max_loss_to_gold_only,
             "passed": outcome != "failed", "outcome": outcome, "reason": reason, "comparison": comparison}
    return (GOLD_ONLY_METHOD if outcome == "gold_only" else candidate), check


def gate_evaluation(evaluation_dir: str | Path, config: GateConfig, production: dict[str, Any] | None = None,
                    teacher_macro_f1: float | None = None) -> dict[str, Any]:
    """The release decision for an evaluation directory: which method is published (``published_method``; the
    primary one, ``candidate_method``, unless the gold-only student replaces it) and whether it clears the checks.
    The published method's metrics come from ``metrics/<method>.json`` (``metrics.json`` when the directory has only
    the primary method's)."""
    directory = Path(evaluation_dir)
    summary_path = directory / EVALUATION_SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    primary = directory / "metrics" / f"{summary.get('primary')}.json"
    primary = primary if primary.is_file() else directory / "metrics.json"
    if primary.is_file():  # 'auto' resolved once, from the candidate, for the comparison and the checks alike
        config = config.model_copy(update={"decoding": resolve_decoding(
            config.decoding, json.loads(primary.read_text(encoding="utf-8")))})
    published, comparison = published_against_gold_only(summary, config)
    per_method = directory / "metrics" / f"{published}.json"
    path = per_method if published and per_method.is_file() else directory / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{evaluation_dir} has no metrics.json: pass the output of the evaluation step")
    candidate = json.loads(path.read_text(encoding="utf-8"))
    result = evaluate_gate(candidate, config, production, teacher_macro_f1, distilled=published != GOLD_ONLY_METHOD,
                           decided_before=[comparison] if comparison is not None else None)
    return {**result, "candidate_method": summary.get("primary"), "published_method": published,
            "teacher_vs_gold_only": summary.get("teacher_vs_gold_only")}
