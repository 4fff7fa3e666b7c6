"""The teacher's evaluation on gold pairs: greedy answers, or the majority vote of sampled answers (what
annotation's self-consistency hands the students)."""

from __future__ import annotations

import pytest

from relevance_distill.config import EngineConfig
from relevance_distill.prompts import format_answer
from relevance_distill.schemas import QueryServicePair, Service, get_label_scheme
from relevance_distill.teacher import evaluate

SCHEME = get_label_scheme("local_services")
GOLD = ["exact", "weak", "irrelevant", "relevant"]
PAIRS = [QueryServicePair(pair_id=f"p{i}", query=f"query {i}", service=Service(service_id=f"s{i}", title=f"title {i}"),
                          label=label) for i, label in enumerate(GOLD)]
# Per pair, the answers the "teacher" writes: the first is also the greedy one.
ANSWERS = [
    [format_answer("r", "relevant"), format_answer("r", "exact"), format_answer("r", "exact")],  # vote right, greedy wrong
    [format_answer("r", "weak"), format_answer("r", "irrelevant"), "no tags"],  # tie of parsed answers: lower grade
    ["no tags", "still none", "<label>nonsense</label>"],  # nothing parses: wrong, counted as unparsed
    [format_answer("r", "relevant"), format_answer("r", "exact"), format_answer("r", "relevant")],
]


@pytest.fixture
def scripted_generation(monkeypatch):
    """generate_answers replaced by the scripted answers (the vote, not the model, is under test); records its calls."""
    calls = []

    def generate_answers(model, tokenizer, prompts, samples=1, do_sample=False, temperature=0.8, top_p=0.95,
                         max_new_tokens=160, batch_size=16, seed=0):
        calls.append({"samples": samples, "do_sample": do_sample, "temperature": temperature, "seed": seed})
        return [answers[:samples] for answers in ANSWERS[: len(prompts)]]

    monkeypatch.setattr(evaluate, "generate_answers", generate_answers)
    return calls


def test_voted_evaluation_scores_the_majority_label_of_sampled_answers(scripted_generation):
    greedy = evaluate.evaluate_teacher(None, None, PAIRS, SCHEME)
    voting = EngineConfig(samples=3, temperature=0.7, seed=5)
    voted = evaluate.evaluate_teacher(None, None, PAIRS, SCHEME, voting=voting)
    assert scripted_generation == [{"samples": 1, "do_sample": False, "temperature": 0.8, "seed": 0},
                                   {"samples": 3, "do_sample": True, "temperature": 0.7, "seed": 5}]
    # Greedy: pair 0 wrong (relevant), 1 right, 2 unparsed, 3 right.
    assert greedy["accuracy"] == pytest.approx(2 / 4) and greedy["parse_rate"] == pytest.approx(3 / 4)
    # Voted: pair 0 exact (right), 1 tie weak/irrelevant -> irrelevant (wrong), 2 unparsed, 3 relevant (right).
    assert voted["accuracy"] == pytest.approx(2 / 4) and voted["parse_rate"] == pytest.approx(3 / 4)
    assert voted["samples"] == 3 and greedy["samples"] == 1
    index = SCHEME.index
    assert greedy["predicted"] == [index("relevant"), index("weak"), -1, index("relevant")]
    assert voted["predicted"] == [index("exact"), index("irrelevant"), -1, index("relevant")]
    assert sum(voted["parse_failures"].values()) == 4 and sum(greedy["parse_failures"].values()) == 1


def test_voting_needs_a_sampling_temperature():
    with pytest.raises(ValueError, match="greedy decoding"):
        EngineConfig(samples=3, temperature=0)
