"""Validation with quarantine: every input row is either kept or quarantined with a reason, never dropped.

The invariant ``rows_in == kept + quarantined`` is checked on every run and reported.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from relevance_distill.data.adapters import Adapter, RowError, open_adapter
from relevance_distill.data.readers import write_jsonl
from relevance_distill.schemas import LabelScheme, QueryServicePair


class AccountingError(RuntimeError):
    """Rows went missing between input and output: a bug, never a data problem."""


@dataclass
class ValidationReport:
    rows_in: int = 0
    kept: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if self.rows_in != self.kept + self.quarantined:
            raise AccountingError(
                f"rows in ({self.rows_in}) != kept ({self.kept}) + quarantined ({self.quarantined})"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dedup_key(pair: QueryServicePair) -> tuple[str, str]:
    return (" ".join(pair.query.lower().split()), pair.service.service_id)


def validate_rows(
    adapter: Adapter,
    scheme: LabelScheme,
    require_label: bool = True,
    deduplicate: bool = True,
    on_row: Callable[[], None] | None = None,
) -> tuple[list[QueryServicePair], list[dict[str, Any]], ValidationReport]:
    kept: list[QueryServicePair] = []
    quarantine: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    first_seen: dict[tuple[str, str], QueryServicePair] = {}
    rows_in = 0

    def reject(number: int, raw: Any, reason: str, code: str) -> None:
        quarantine.append({"row_number": number, "reason": reason, "reason_code": code, "row": raw})
        reasons[code] += 1

    for number, raw in adapter.rows:
        rows_in += 1
        if on_row:
            on_row()
        try:
            pair = adapter.to_pair(raw, scheme)
        except RowError as error:
            reject(number, raw, error.reason, error.code)
            continue
        if require_label and pair.label is None:
            reject(number, raw, "missing label (gold data needs one)", "missing_label")
            continue
        if deduplicate:
            key = _dedup_key(pair)
            if key in first_seen:
                earlier = first_seen[key]
                agreement = "same label" if earlier.label == pair.label else f"label {pair.label!r} vs {earlier.label!r}"
                reject(number, raw, f"duplicate of pair {earlier.pair_id} ({agreement})", "duplicate")
                continue
            first_seen[key] = pair
        kept.append(pair)

    report = ValidationReport(
        rows_in=rows_in,
        kept=len(kept),
        quarantined=len(quarantine),
        reasons=dict(sorted(reasons.items())),
        labels=dict(sorted(Counter(pair.label or "<none>" for pair in kept).items())),
    )
    report.check()
    return kept, quarantine, report


def validate_file(
    input_uri: str,
    input_format: str,
    output_uri: str,
    quarantine_uri: str,
    scheme: LabelScheme,
    products_uri: str | None = None,
    require_label: bool = True,
    deduplicate: bool = True,
    on_row: Callable[[], None] | None = None,
) -> ValidationReport:
    """Validate a file into kept rows (our JSONL schema) and quarantined rows (one JSON per line with ``reason``)."""
    adapter = open_adapter(input_format, input_uri, products_uri)
    kept, quarantine, report = validate_rows(adapter, scheme, require_label, deduplicate, on_row)
    write_jsonl(output_uri, kept)
    write_jsonl(quarantine_uri, quarantine)
    return report


def report_json(report: ValidationReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
