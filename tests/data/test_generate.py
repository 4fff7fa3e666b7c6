from __future__ import annotations

import json
import re

from relevance_distill.builtin_world.generate import (
    DISTRICTS,
    EQUAL_DISTRICT_CHECK,
    KINDS,
    LABELS,
    Intent,
    digit_comparison,
    generate_dataset,
    judge,
)
from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.adapters import open_adapter
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


def test_counterfactual_pairs_move_the_service_across_the_asked_for_district_and_flip_only_that_check(tmp_path):
    from relevance_distill.builtin_world.generate import counterfactual_pairs, intent_of

    generate_dataset(SMALL, tmp_path)
    pairs = read_models(str(tmp_path / "labeled.jsonl"), QueryServicePair)
    located = [p for p in pairs if "Location:" in p.reasoning or "位置:" in p.reasoning]
    assert located and all(intent_of(p) is not None for p in located)  # every chain read back to its intent
    moved = counterfactual_pairs(pairs, seed=1)
    assert len(moved) == len(located) and counterfactual_pairs(pairs, seed=1) == moved
    flipped, checked_others = {True: 0, False: 0}, 0
    for before, after in zip(located, moved):
        met_before = re.search(EQUAL_DISTRICT_CHECK, before.reasoning) is not None
        assert (re.search(EQUAL_DISTRICT_CHECK, after.reasoning) is not None) != met_before
        assert after.query == before.query and after.service.price == before.service.price
        assert after.service.attributes["district"] != before.service.attributes["district"]
        assert after.pair_id != before.pair_id and after.source.endswith("+counterfactual-district")
        intent = intent_of(after)  # the new chain and label are the rules' own for the moved service
        assert intent is not None and judge(intent, after.service) == (after.label, after.reasoning)
        other_checks = re.findall(r"Price:.*?: (?:met|too expensive)\.|价格:[^。]*。|\w[^.:。]*: (?:not )?offered\.|"
                                  r"[^。 ]+:商户未?提供。", before.reasoning)
        assert other_checks == [c for c in other_checks if c in after.reasoning]  # feature and price checks unchanged
        checked_others += len(other_checks)
        flipped[met_before] += 1
    assert flipped[True] > 0 and flipped[False] > 0 and checked_others > 0
    foreign = QueryServicePair(pair_id="x", query="q", service=_service("hotpot"), label="exact",
                               reasoning="Looks right to me.")
    assert intent_of(foreign) is None and counterfactual_pairs([foreign], seed=1) == []


FEATURE_CHECK = re.compile(r"\w[^.:。]*: (?:not )?offered\.|[^。 ]+:商户未?提供。")
PRICE_CHECK = re.compile(r"Price:.*?: (?:met|too expensive)\.|价格:[^。]*。")
LOCATION_CHECK = re.compile(r"Location: [^:]*: (?:not )?met\.|位置:[^。]*。")


def test_feature_and_price_counterfactuals_flip_only_their_own_check_and_keep_the_service_consistent(tmp_path):
    from relevance_distill.builtin_world.generate import (
        FEATURES,
        counterfactual_pairs,
        intent_of,
    )

    generate_dataset(SMALL, tmp_path)
    pairs = read_models(str(tmp_path / "labeled.jsonl"), QueryServicePair)
    everything = counterfactual_pairs(pairs, seed=1, checks=("price", "district", "feature"))
    assert everything == counterfactual_pairs(pairs, seed=1, checks=("district", "feature", "price"))
    # the district pairs of a seed are the same whichever other checks are asked for
    assert [p for p in everything if p.source.endswith("-district")] == counterfactual_pairs(pairs, seed=1)
    originals = {pair.pair_id: pair for pair in pairs}
    counted = {"feature": 0, "price": 0, "removed_mention": 0, "onto_ceiling_or_across": 0}
    for check, pattern, others in (("feature", FEATURE_CHECK, (PRICE_CHECK, LOCATION_CHECK)),
                                   ("price", PRICE_CHECK, (FEATURE_CHECK, LOCATION_CHECK))):
        edited = [p for p in everything if p.source.endswith(f"+counterfactual-{check}")]
        stating = [p for p in pairs if pattern.search(p.reasoning or "") and intent_of(p) is not None
                   and intent_of(p).kind.key == p.service.attributes["kind"]]
        assert len(edited) == len(stating) > 0
        for before, after in zip(stating, edited):
            assert after.query == before.query and after.pair_id not in originals
            assert pattern.findall(after.reasoning) != pattern.findall(before.reasoning)  # the outcome flipped
            for other in others:  # every other check word for word
                assert other.findall(after.reasoning) == other.findall(before.reasoning)
            intent = intent_of(after)
            assert intent is not None and judge(intent, after.service) == (after.label, after.reasoning)
            kind = next(k for k in KINDS if k.key == after.service.attributes["kind"])
            listed = {f.strip() for f in after.service.attributes.get("features", "").split(",") if f.strip()}
            names = {name for forms in FEATURES[kind.group] for name in forms}
            assert listed <= names and ("features" in after.service.attributes) == bool(listed)  # no empty list kept
            mentioned = [name for name in names if name in after.service.description]
            assert set(mentioned) <= listed  # a description never mentions a feature the service lacks
            if check == "feature":
                assert after.service.price == before.service.price
                counted["removed_mention"] += any(name in before.service.description for name in names - listed)
            else:
                assert after.service.attributes == before.service.attributes
                assert f"{after.service.price:g}" in after.service.description
                assert f"{before.service.price:g}" not in after.service.description
                ceiling = intent.max_price
                assert (after.service.price <= ceiling) != (before.service.price <= ceiling)
                assert abs(after.service.price - ceiling) <= max(10, ceiling // 2)
            counted[check] += 1
    assert counted["removed_mention"] > 0  # removals also reach descriptions that mentioned the feature
    try:
        counterfactual_pairs(pairs, seed=1, checks=("district", "colour"))
    except ValueError as error:
        assert "colour" in str(error) and "price" in str(error)
    else:
        raise AssertionError("an unknown check was accepted")
