"""Validation never drops rows silently: rows in = kept + quarantined, each quarantined row has a reason."""

from __future__ import annotations

import csv
import json
import random

from typer.testing import CliRunner

from relevance_distill.cli import app
from relevance_distill.data.adapters import open_adapter
from relevance_distill.data.validate import validate_rows
from relevance_distill.schemas import get_label_scheme

GOOD = {"query": "hotpot in Chaoyang", "service": {"service_id": "s1", "title": "Golden Hotpot"}, "label": "exact"}


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_with_malformed_rows(tmp_path):
    rows = [
        json.dumps(GOOD),
        "{not json",
        json.dumps({"service": {"service_id": "s2", "title": "x"}, "label": "exact"}),  # missing query
        json.dumps({**GOOD, "query": 42}),  # wrong type
        json.dumps({**GOOD, "query": "   "}),  # empty text
        json.dumps({**GOOD, "service": {"service_id": "s3", "title": ""}}),  # empty title
        json.dumps({**GOOD, "service": {"service_id": "s4", "title": "t"}, "label": "perfect"}),  # unknown label
        json.dumps({**GOOD, "service": {"service_id": "s5", "title": "t", "price": "cheap"}}),  # wrong type nested
        json.dumps({**GOOD, "colour": "red"}),  # unknown field
        json.dumps([1, 2]),  # not an object
        json.dumps({**GOOD, "service": {"service_id": "s6", "title": "t"}, "label": None}),  # unlabeled gold row
        json.dumps(GOOD),  # duplicate
        json.dumps({**GOOD, "service": {"service_id": "s7", "title": "t"}, "label": "0"}),  # alias of irrelevant
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(rows) + "\n\n", encoding="utf-8")
    kept, quarantine, report = validate_rows(open_adapter("jsonl", str(path)), get_label_scheme("local_services"))
    assert report.rows_in == len(rows) == report.kept + report.quarantined
    assert [pair.service.service_id for pair in kept] == ["s1", "s7"]
    assert kept[1].label == "irrelevant"
    by_line = {row["row_number"]: row for row in quarantine}
    assert by_line[2]["reason_code"] == "bad_json" and by_line[2]["row"] == "{not json"
    assert by_line[3]["reason"] == "query: Field required"
    assert by_line[4]["reason_code"] == "wrong_type"
    assert "query must not be empty" in by_line[5]["reason"]
    assert "title must not be empty" in by_line[6]["reason"]
    assert by_line[7]["reason_code"] == "unknown_label" and "allowed" in by_line[7]["reason"]
    assert by_line[8]["reason"].startswith("service.price")
    assert by_line[9]["reason_code"] == "unknown_field"
    assert by_line[10]["reason_code"] == "wrong_type"
    assert by_line[11]["reason_code"] == "missing_label"
    assert by_line[12]["reason_code"] == "duplicate" and "same label" in by_line[12]["reason"]
    assert sum(report.reasons.values()) == report.quarantined


def _crowdflower_csv(path, rows=1000, bad=37, seed=7):
    rng = random.Random(seed)
    bad_rows = set(rng.sample(range(rows), bad))
    kinds = ["empty_query", "empty_title", "grade_0", "grade_5", "grade_float", "grade_text", "grade_missing"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "query", "product_title", "product_description", "median_relevance", "relevance_variance"])
        for index in range(rows):
            row = [index + 1, f"query {index // 4}", f"product {index}",
                   "" if index % 4 == 0 else f"description {index}", rng.randint(1, 4), "0.4"]
            if index in bad_rows:
                kind = kinds[len([b for b in bad_rows if b < index]) % len(kinds)]
                if kind == "empty_query":
                    row[1] = "  "
                elif kind == "empty_title":
                    row[2] = ""
                else:
                    row[4] = {"grade_0": "0", "grade_5": "5", "grade_float": "2.5", "grade_text": "high", "grade_missing": ""}[kind]
            writer.writerow(row)
    return bad_rows


def test_cli_validate_crowdflower_1000_rows_37_bad(tmp_path):
    source = tmp_path / "train.csv"
    _crowdflower_csv(source)
    kept_path, bad_path = tmp_path / "kept.jsonl", tmp_path / "bad.jsonl"
    result = CliRunner().invoke(app, ["data", "validate", str(source), "--format", "crowdflower",
                                      "--output", str(kept_path), "--quarantine", str(bad_path),
                                      "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    assert "kept 963 rows" in result.output and "quarantined 37 rows" in result.output
    assert "rows in 1000 = kept 963 + quarantined 37" in result.output
    kept, bad = _read(kept_path), _read(bad_path)
    assert len(kept) == 963 and len(bad) == 37
    assert all(row["reason"] for row in bad)
    assert sum(1 for row in kept if row["service"]["description"] == "") > 200  # empty descriptions are normal
    assert {row["reason_code"] for row in bad} == {"empty_text", "unknown_label", "wrong_type", "missing_field"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows_in"] == 1000 and report["kept"] == 963 and report["quarantined"] == 37
