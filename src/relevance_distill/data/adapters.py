"""Adapters from public datasets and our own JSONL schema to ``QueryServicePair``.

An adapter turns one raw row into one pair or raises ``RowError`` with a reason; it never skips a row.

| format | input | label scheme |
|---|---|---|
| jsonl | our schema, one QueryServicePair per line | any (default local_services) |
| crowdflower | Kaggle "Search Results Relevance" train.csv(.zip) | crowdflower (median_relevance 1-4) |
| esci | ESCI examples (parquet/JSONL) + products (parquet, JSONL, JSONL.zstd, Vespa feed) | esci (E/S/C/I) |
| qbqtc | QBQTC JSON lines {id, query, title, label} | qbqtc (0-2) |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from relevance_distill.config import DEFAULT_SCHEME_FOR_FORMAT
from relevance_distill.data.readers import iter_rows
from relevance_distill.schemas import (
    LabelScheme,
    QueryServicePair,
    Service,
    make_pair_id,
)


class RowError(ValueError):
    """A row cannot become a pair; ``reason`` says why (it is written to the quarantine file)."""

    def __init__(self, reason: str, code: str = "invalid"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


def describe_validation_error(error: ValidationError) -> tuple[str, str]:
    """Short reason and code for a pydantic error: 'service.title: title must not be empty'."""
    parts, codes = [], []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
        codes.append(
            "missing_field" if item["type"] == "missing"
            else "unknown_field" if item["type"] == "extra_forbidden"
            else "empty_text" if "must not be empty" in message
            else "wrong_type"
        )
    return "; ".join(parts), codes[0] if codes else "invalid"


def _text_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def _required_text(row: dict[str, Any], key: str) -> str:
    if key not in row or row[key] is None:
        raise RowError(f"missing field {key!r}", "missing_field")
    value = row[key]
    if not isinstance(value, str):
        raise RowError(f"{key} must be text, got {type(value).__name__} {value!r}", "wrong_type")
    if not value.strip():
        raise RowError(f"{key} must not be empty", "empty_text")
    return value.strip()


def _optional_text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _resolve_label(scheme: LabelScheme, raw: Any) -> str:
    try:
        return scheme.resolve(raw)
    except ValueError as error:
        raise RowError(str(error), "unknown_label") from None


def _require_object(row: Any) -> dict[str, Any]:
    if isinstance(row, str):
        raise RowError(f"not valid JSON: {row[:120]!r}", "bad_json")
    if not isinstance(row, dict):
        raise RowError(f"expected a JSON object, got {type(row).__name__}", "wrong_type")
    return row


def jsonl_pair(row: Any, scheme: LabelScheme) -> QueryServicePair:
    data = dict(_require_object(row))
    if "pair_id" not in data:
        service = data.get("service")
        service_id = service.get("service_id", "") if isinstance(service, dict) else ""
        data["pair_id"] = make_pair_id(str(data.get("query", "")), str(service_id))
    try:
        pair = QueryServicePair.model_validate(data)
    except ValidationError as error:
        raise RowError(*describe_validation_error(error)) from None
    if pair.label is not None:
        pair.label = _resolve_label(scheme, pair.label)
    return pair


def crowdflower_pair(row: Any, scheme: LabelScheme) -> QueryServicePair:
    row = _require_object(row)
    query = _required_text(row, "query")
    title = _required_text(row, "product_title")
    raw_grade = _optional_text(row, "median_relevance")
    if not raw_grade:
        raise RowError("missing field 'median_relevance'", "missing_field")
    try:
        grade = int(raw_grade)
    except ValueError:
        raise RowError(f"median_relevance {raw_grade!r} is not an integer; allowed: 1, 2, 3, 4", "wrong_type") from None
    # An empty description is normal in this data (about a quarter of rows), not an error.
    description = _optional_text(row, "product_description")
    service = Service(service_id=_text_id("cf", f"{title}\x1f{description}"), title=title, description=description)
    metadata: dict[str, Any] = {}
    if _optional_text(row, "relevance_variance"):
        try:
            metadata["relevance_variance"] = float(row["relevance_variance"])
        except ValueError:
            raise RowError(f"relevance_variance {row['relevance_variance']!r} is not a number", "wrong_type") from None
    source_id = _optional_text(row, "id")
    return QueryServicePair(
        pair_id=f"crowdflower-{source_id}" if source_id else make_pair_id(query, service.service_id),
        query=query,
        query_id=query.lower(),
        service=service,
        label=_resolve_label(scheme, grade),
        source="crowdflower",
        language="en",
        metadata=metadata,
    )


def qbqtc_pair(row: Any, scheme: LabelScheme) -> QueryServicePair:
    row = _require_object(row)
    query = _required_text(row, "query")
    title = _required_text(row, "title")
    if row.get("label") is None:
        raise RowError("missing field 'label'", "missing_field")
    source_id = _optional_text(row, "id")
    service = Service(service_id=_text_id("qbqtc", title), title=title)
    return QueryServicePair(
        pair_id=f"qbqtc-{source_id}" if source_id else make_pair_id(query, service.service_id),
        query=query,
        query_id=query,
        service=service,
        label=_resolve_label(scheme, row["label"]),
        source="qbqtc",
        language="zh",
    )


def _product_fields(row: dict[str, Any]) -> dict[str, Any]:
    """Flatten a Vespa feed line ({"put": ..., "fields": {...}}) or an ESCI products row."""
    fields = row.get("fields") if isinstance(row.get("fields"), dict) else row

    def pick(*keys: str) -> Any:
        return next((fields[key] for key in keys if fields.get(key) not in (None, "")), None)

    bullets = pick("product_bullet_point", "bullets")
    if isinstance(bullets, list):
        bullets = " ".join(str(item) for item in bullets)
    attributes = {
        name: str(value)
        for name, value in (("brand", pick("product_brand", "brand")), ("color", pick("product_color", "color")))
        if value
    }
    description = " ".join(str(part) for part in (pick("product_description", "description"), bullets) if part)
    return {
        "service_id": str(pick("product_id", "id") or ""),
        "title": str(pick("product_title", "title") or ""),
        "description": description,
        "attributes": attributes,
        "merchant": attributes.get("brand", ""),
        "locale": pick("product_locale", "locale"),
    }


def load_esci_products(uri: str) -> dict[str, dict[str, Any]]:
    products = {}
    for _, row in iter_rows(uri):
        if isinstance(row, dict):
            fields = _product_fields(row)
            if fields["service_id"]:
                products[fields["service_id"]] = fields
    return products


def esci_pair_factory(products: dict[str, dict[str, Any]]) -> Callable[[Any, LabelScheme], QueryServicePair]:
    def esci_pair(row: Any, scheme: LabelScheme) -> QueryServicePair:
        row = _require_object(row)
        query = _required_text(row, "query")
        product_id = _required_text(row, "product_id")
        label_raw = row.get("esci_label", row.get("rating"))
        if label_raw is None:
            raise RowError("missing field 'esci_label'", "missing_field")
        product = products.get(product_id)
        if product is None:
            raise RowError(f"product {product_id!r} is not in the products file", "missing_product")
        if not product["title"].strip():
            raise RowError(f"product {product_id!r} has an empty title", "empty_text")
        service = Service(
            service_id=product_id,
            title=product["title"],
            description=product["description"],
            attributes=product["attributes"],
            merchant=product["merchant"],
        )
        metadata = {key: row[key] for key in ("example_id", "product_locale", "split") if row.get(key) is not None}
        return QueryServicePair(
            pair_id=f"esci-{row['example_id']}" if row.get("example_id") is not None else make_pair_id(query, product_id),
            query=query,
            query_id=str(row.get("query_id") or query),
            service=service,
            label=_resolve_label(scheme, label_raw),
            source="esci",
            language="en" if str(row.get("product_locale", "us")) == "us" else str(row.get("product_locale")),
            metadata=metadata,
        )

    return esci_pair


@dataclass(frozen=True)
class Adapter:
    rows: Iterator[tuple[int, Any]]
    to_pair: Callable[[Any, LabelScheme], QueryServicePair]


def open_adapter(input_format: str, uri: str, products_uri: str | None = None) -> Adapter:
    if input_format == "esci":
        if not products_uri:
            raise ValueError("the esci format needs a products file (--products): ESCI examples carry no product text")
        return Adapter(iter_rows(uri), esci_pair_factory(load_esci_products(products_uri)))
    to_pair = {"jsonl": jsonl_pair, "crowdflower": crowdflower_pair, "qbqtc": qbqtc_pair}.get(input_format)
    if to_pair is None:
        raise ValueError(f"unknown input format {input_format!r}; allowed: {sorted(DEFAULT_SCHEME_FOR_FORMAT)}")
    return Adapter(iter_rows(uri), to_pair)
