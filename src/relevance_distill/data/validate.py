"""Validation with quarantine: every input row is either kept or quarantined with a reason, never dropped.

The invariant ``rows_in == kept + quarantined`` is checked on every run and reported.
"""

from __future__ import annotations

import hashlib
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


def normalised_query(query: str) -> str:
    """The query as leakage and de-duplication compare it: lower case, single spaces."""
    return " ".join(query.lower().split())


def _dedup_key(pair: QueryServicePair) -> bytes:
    # A 16-byte digest instead of the strings: a million rows keep their keys in well under 100 MiB.
    text = f"{normalised_query(pair.query)}\x1f{pair.service.service_id}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def validate_stream(
    adapter: Adapter,
    scheme: LabelScheme,
    keep: Callable[[QueryServicePair], None],
    quarantine: Callable[[dict[str, Any]], None],
    require_label: bool = True,
    deduplicate: bool = True,
    on_row: Callable[[], None] | None = None,
) -> ValidationReport:
    """Validate rows one at a time: each goes to KEEP (as a pair) or QUARANTINE (a record with the reason).

    Nothing but the de-duplication keys is held in memory, so files of any length stream through.
    """
    reasons: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    first_seen: dict[bytes, tuple[str, str | None]] = {}
    rows_in = kept = 0

    def reject(number: int, raw: Any, reason: str, code: str) -> None:
        quarantine({"row_number": number, "reason": reason, "reason_code": code, "row": raw})
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
                earlier_id, earlier_label = first_seen[key]
                agreement = "same label" if earlier_label == pair.label else f"label {pair.label!r} vs {earlier_label!r}"
                reject(number, raw, f"duplicate of pair {earlier_id} ({agreement})", "duplicate")
                continue
            first_seen[key] = (pair.pair_id, pair.label)
        kept += 1
        labels[pair.label or "<none>"] += 1
        keep(pair)

    report = ValidationReport(rows_in=rows_in, kept=kept, quarantined=sum(reasons.values()),
                              reasons=dict(sorted(reasons.items())), labels=dict(sorted(labels.items())))
    report.check()
    return report


def validate_rows(
    adapter: Adapter,
    scheme: LabelScheme,
    require_label: bool = True,
    deduplicate: bool = True,
    on_row: Callable[[], None] | None = None,
) -> tuple[list[QueryServicePair], list[dict[str, Any]], ValidationReport]:
    """``validate_stream`` into lists (small inputs, tests)."""
    kept: list[QueryServicePair] = []
    quarantine: list[dict[str, Any]] = []
    report = validate_stream(adapter, scheme, kept.append, quarantine.append, require_label, deduplicate, on_row)
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
