"""benchmarks/district_probe.py: a moved pair's service sits in the district the probe scores against."""

from __future__ import annotations

from relevance_distill.builtin_world.generate import (
    DISTRICTS,
    district_index,
    generate_dataset,
)
from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.readers import read_models
from relevance_distill.schemas import QueryServicePair


def test_a_moved_service_names_only_its_new_district_in_every_form(district_probe, errors, tmp_path):
    generate_dataset(DataGenerationConfig(num_services=100, num_queries=120, num_log_pairs=0, corpus_documents=0, seed=3),
                     tmp_path)
    pairs = read_models(str(tmp_path / "labeled.jsonl"), QueryServicePair)
    checked = {True: 0, False: 0}
    for pair in pairs:
        gold = errors.check_parts(pair.reasoning or "").get("district")
        if gold is None:
            continue
        asked, current = district_index(gold["asked"]), district_index(gold["service"])
        other, target = district_probe.moved(pair, asked, current)
        assert (target == asked) != (current == asked)  # moved in where it was elsewhere, out where it was there
        text = other.service.model_dump_json()
        assert all(form in text for form in DISTRICTS[target][:1]) and other.service.attributes["district"] == DISTRICTS[target][0]
        assert not any(form in text for form in DISTRICTS[current])
        assert other.query == pair.query and other.service.price == pair.service.price
        checked[current == asked] += 1
    assert checked[True] > 0 and checked[False] > 0
