"""benchmarks/teacher_errors.py: the check parts it reads from the built-in data's gold chains."""

from __future__ import annotations

import json

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig


def test_every_compared_check_of_the_generated_chains_is_read_in_both_languages(errors, tmp_path):
    generate_dataset(DataGenerationConfig(num_services=100, num_queries=120, num_log_pairs=0, corpus_documents=0, seed=3),
                     tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "labeled.jsonl").read_text(encoding="utf-8").splitlines()]
    seen = set()
    for row in rows:
        chain, parts = row["reasoning"], errors.check_parts(row["reasoning"])
        for name, marker in (("district", ("Location:", "位置:")), ("price", ("Price:", "价格:"))):
            assert (name in parts) == any(m in chain for m in marker), chain
            if name in parts:
                assert parts[name]["asked"] in row["query"], (parts[name], row["query"])
                assert ("steps" in parts[name]) == (name == "price"), chain
                seen.add((name, parts[name]["outcome"]))
    assert seen == {("district", "met"), ("district", "not met"), ("district", "满足"), ("district", "不满足"),
                    ("price", "met"), ("price", "too expensive"), ("price", "满足"), ("price", "超出")}


def test_parts_are_scored_and_the_outcome_is_scored_again_where_both_values_were_copied(errors):
    gold = ("The query asks for bbq and the service is bbq. Location: asked for Shunyi, service is in Shunyi: met. "
            "Price: asked for under 80, service costs 95; 95 vs 80: 9>8: too expensive. So the label is relevant.")
    written = gold.replace(": met.", ": not met.").replace("costs 95", "costs 90")
    stats = errors.part_stats(gold, written)
    assert stats == {"district_asked_ok": 1, "district_service_ok": 1, "district_outcome_bad": 1,
                     "district_outcome_given_values_bad": 1, "district_outcome_when_equal_bad": 1,
                     "price_asked_ok": 1, "price_service_bad": 1, "price_steps_ok": 1, "price_outcome_ok": 1,
                     "price_outcome_when_unequal_ok": 1, "price_outcome_given_steps_ok": 1}
    elsewhere = gold.replace("service is in Shunyi: met", "service is in Haidian: not met")
    assert errors.part_stats(elsewhere, elsewhere)["district_outcome_when_unequal_ok"] == 1
    wrong_steps = gold.replace("9>8: too expensive", "0<8: met")
    assert errors.part_stats(gold, wrong_steps)["price_steps_bad"] == 1
    assert errors.part_stats(gold, "no checks written") == {
        "district_asked_bad": 1, "district_service_bad": 1, "district_outcome_bad": 1,
        "district_outcome_when_equal_bad": 1, "price_asked_bad": 1, "price_service_bad": 1, "price_steps_bad": 1,
        "price_outcome_bad": 1, "price_outcome_when_unequal_bad": 1}


def test_chains_written_before_the_digit_steps_are_still_read(errors):
    parts = errors.check_parts("Price: asked for under 80, service costs 95: too expensive. 价格:要求80元以内,人均95元,超出。")
    assert parts == {"price": {"asked": "80", "service": "95", "outcome": "too expensive"}}
    assert errors.part_stats("价格:要求80元以内,人均95元,逐位比较95 vs 80: 9>8,超出。",
                             "价格:要求80元以内,人均95元,逐位比较95 vs 80: 9>8,满足。") == {
        "price_asked_ok": 1, "price_service_ok": 1, "price_steps_ok": 1, "price_outcome_bad": 1,
        "price_outcome_given_values_bad": 1, "price_outcome_when_unequal_bad": 1, "price_outcome_given_steps_bad": 1}
