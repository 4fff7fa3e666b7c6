from __future__ import annotations

import pytest
from pydantic import ValidationError

from relevance_distill.schemas import (
    BUILTIN_LABEL_SCHEMES,
    Annotation,
    LabelGrade,
    LabelScheme,
    QueryServicePair,
    Service,
    get_label_scheme,
    make_pair_id,
)


def test_builtin_schemes():
    assert get_label_scheme("crowdflower").names == ["irrelevant", "somewhat", "mostly", "perfect"]
    assert [label.grade for label in get_label_scheme("crowdflower").labels] == [1, 2, 3, 4]
    assert get_label_scheme("qbqtc").num_labels == 3
    esci = get_label_scheme("esci")
    assert esci.names == ["irrelevant", "complement", "substitute", "exact"]  # I < C < S < E
    assert [esci.resolve(raw) for raw in ["E", "S", "C", "I", "100.000"]] == ["exact", "substitute", "complement", "irrelevant", "exact"]
    assert get_label_scheme("local_services").num_labels == 4
    assert esci.is_relevant("substitute") and not esci.is_relevant("complement")


def test_unknown_scheme_and_label_list_allowed():
    with pytest.raises(ValueError, match="allowed: \\['crowdflower', 'esci', 'local_services', 'qbqtc'\\]"):
        get_label_scheme("nope")
    with pytest.raises(ValueError, match="allowed"):
        get_label_scheme("qbqtc").resolve("7")
    with pytest.raises(ValueError, match="unknown label 'x'"):
        get_label_scheme("qbqtc").index("x")


def test_expected_score_is_normalised():
    scheme = BUILTIN_LABEL_SCHEMES["crowdflower"]
    assert scheme.expected_score([1, 0, 0, 0]) == 0.0
    assert scheme.expected_score([0, 0, 0, 1]) == 1.0
    assert scheme.expected_score([0.25] * 4) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        scheme.expected_score([1.0])


def test_scheme_validation():
    with pytest.raises(ValidationError, match="strictly increasing"):
        LabelScheme(name="x", relevant_from="a", labels=[LabelGrade(name="a", grade=1), LabelGrade(name="b", grade=1)])
    with pytest.raises(ValidationError, match="relevant_from"):
        LabelScheme(name="x", relevant_from="c", labels=[LabelGrade(name="a", grade=0), LabelGrade(name="b", grade=1)])
    with pytest.raises(ValidationError, match="maps to both"):
        LabelScheme(name="x", relevant_from="a", labels=[LabelGrade(name="a", grade=0, aliases=["1"]), LabelGrade(name="b", grade=1, aliases=["1"])])
    with pytest.raises(ValidationError):
        LabelGrade(name="<bad>", grade=0)


def test_service_text_and_records():
    service = Service(service_id="s1", title="Golden Hotpot", category="Food > Hotpot", price=88, attributes={"b": "2", "a": "1"})
    assert service.to_text() == "Golden Hotpot | category: Food > Hotpot | price: 88 | a: 1; b: 2"
    with pytest.raises(ValidationError, match="title must not be empty"):
        Service(service_id="s1", title=" ")
    with pytest.raises(ValidationError, match="Extra inputs"):
        Service(service_id="s1", title="t", colour="red")
    pair = QueryServicePair(pair_id=make_pair_id("Hotpot", "s1"), query="Hotpot", service=service)
    assert pair.pair_id == make_pair_id(" hotpot ", "s1") and pair.group_key == "hotpot"
    assert QueryServicePair.model_validate_json(pair.model_dump_json()) == pair


def test_annotation_votes_must_be_shares():
    Annotation(pair_id="p", label="exact", reasoning="r", confidence=0.6, votes={"exact": 0.6, "weak": 0.4}, teacher_version="t1")
    with pytest.raises(ValidationError, match="sum to 1"):
        Annotation(pair_id="p", label="exact", reasoning="r", confidence=0.6, votes={"exact": 0.6}, teacher_version="t1")
    with pytest.raises(ValidationError):
        Annotation(pair_id="p", label="exact", reasoning="r", confidence=1.5, teacher_version="t1")
