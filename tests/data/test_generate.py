from __future__ import annotations

import json
import re

from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.adapters import open_adapter
from relevance_distill.data.generate import (
    DISTRICTS,
    EQUAL_DISTRICT_CHECK,
    KINDS,
    LABELS,
    Intent,
    digit_comparison,
    generate_dataset,
    judge,
)
from relevance_distill.data.readers import read_models
from relevance_distill.data.validate import validate_rows
from relevance_distill.schemas import QueryServicePair, Service, get_label_scheme

SMALL = DataGenerationConfig(num_services=150, num_queries=80, num_log_pairs=300, corpus_documents=60, seed=4)


def test_generation_is_deterministic(tmp_path):
    generate_dataset(SMALL, tmp_path / "a")
    generate_dataset(SMALL, tmp_path / "b")
    for name in ["services.jsonl", "labeled.jsonl", "search_logs.jsonl", "corpus.jsonl"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    generate_dataset(SMALL.model_copy(update={"seed": 5}), tmp_path / "c")
    assert (tmp_path / "a" / "labeled.jsonl").read_bytes() != (tmp_path / "c" / "labeled.jsonl").read_bytes()


def test_generated_data_validates_and_covers_labels_and_languages(tmp_path):
    summary = generate_dataset(SMALL, tmp_path)
    kept, quarantine, report = validate_rows(open_adapter("jsonl", str(tmp_path / "labeled.jsonl")), get_label_scheme("local_services"))
    assert not quarantine and report.kept == summary["counts"]["labeled_pairs"] == 80 * SMALL.candidates_per_query
    assert set(report.labels) == set(LABELS)
    assert min(report.labels.values()) > 0.08 * report.kept  # no grade is vanishingly rare
    assert {pair.language for pair in kept} == {"en", "zh"}
    assert all(pair.reasoning and pair.label in pair.reasoning or pair.language == "zh" for pair in kept)
    logs = read_models(str(tmp_path / "search_logs.jsonl"), QueryServicePair)
    assert len(logs) == 300 and all(pair.label is None for pair in logs)
    corpus = [json.loads(line) for line in (tmp_path / "corpus.jsonl").read_text().splitlines()]
    assert len(corpus) == 60 and {doc["kind"] for doc in corpus} == {"service_page", "merchant_page", "query_log"}


def _service(kind, district="Chaoyang", features="", price=100.0):
    attributes = {"kind": kind, "district": district}
    if features:
        attributes["features"] = features
    return Service(service_id="s", title="t", attributes=attributes, price=price)


def test_labelling_rules():
    hotpot = next(k for k in KINDS if k.key == "hotpot")
    ask = Intent(hotpot, district=0, feature=0, max_price=None, language="en", text="hotpot with private room in Chaoyang")
    assert judge(ask, _service("hotpot", "Chaoyang", "private room, delivery"))[0] == "exact"
    assert judge(ask, _service("hotpot", "Haidian", "private room"))[0] == "relevant"
    assert judge(ask, _service("hotpot", "Haidian", "delivery"))[0] == "weak"
    assert judge(ask, _service("sushi", "Chaoyang", "private room"))[0] == "weak"
    label, reasoning = judge(ask, _service("plumbing"))
    assert label == "irrelevant" and "plumber" in reasoning
    zh = Intent(hotpot, district=None, feature=None, max_price=80, language="zh", text="火锅 80元以内")
    label, reasoning = judge(zh, _service("hotpot", price=120.0))
    assert label == "relevant" and "超出" in reasoning and "120 vs 080: 1>0" in reasoning


def test_prices_are_compared_digit_by_digit_up_to_the_first_difference():
    assert digit_comparison(95, 120) == "095 vs 120: 0<1"
    assert digit_comparison(125, 120) == "125 vs 120: 1=1, 2=2, 5>0"
    assert digit_comparison(120, 120) == "120 vs 120: 1=1, 2=2, 0=0"
    assert digit_comparison(1947, 1270) == "1947 vs 1270: 1=1, 9>2"
    for price, ceiling in [(5, 9), (9, 10), (99, 100), (101, 100), (100, 100), (450, 1200)]:
        last = digit_comparison(price, ceiling).split(", ")[-1]
        assert (last[-2] in "<=") == (price <= ceiling), (price, ceiling, last)


def test_the_equal_district_pattern_finds_exactly_the_location_checks_of_one_district_in_either_language():
    hotpot = next(k for k in KINDS if k.key == "hotpot")
    found = []
    for language in ("en", "zh"):
        for asked in range(len(DISTRICTS)):
            ask = Intent(hotpot, district=asked, feature=None, max_price=None, language=language, text="hotpot")
            for (district, _) in DISTRICTS:
                reasoning = judge(ask, _service("hotpot", district))[1]
                found.append((re.search(EQUAL_DISTRICT_CHECK, reasoning) is not None, district == DISTRICTS[asked][0]))
    assert all(matched == equal for matched, equal in found)
    assert sum(equal for _, equal in found) == 2 * len(DISTRICTS)
    other_kind = judge(Intent(hotpot, 0, None, None, "en", "hotpot"), _service("sushi", DISTRICTS[0][0]))[1]
    assert re.search(EQUAL_DISTRICT_CHECK, other_kind) is None  # no location check, nothing to find
