"""The answer grammar: round trip, and a fuzz set of bad answers each rejected with a reason."""

from __future__ import annotations

import random

import pytest

from relevance_distill.prompts import (
    AnswerParseError,
    build_prompt,
    format_answer,
    parse_answer,
)
from relevance_distill.schemas import get_label_scheme

SCHEME = get_label_scheme("local_services")


@pytest.mark.parametrize("label", SCHEME.names)
def test_round_trip(label):
    reasoning = "The query asks for hotpot; the service is a hotpot place in Chaoyang. 所有要求都满足。"
    parsed = parse_answer(format_answer(reasoning, label), SCHEME)
    assert (parsed.reasoning, parsed.label) == (reasoning, label)
    assert parse_answer(f"  \n{format_answer(reasoning, label)}\n ", SCHEME).label == label


def test_label_only_answer_round_trip():
    """What a teacher trained without reasoning chains writes: the label alone, reasoning ''."""
    for label in SCHEME.names:
        assert format_answer("  ", label) == f"<label>{label}</label>"
        parsed = parse_answer(f" {format_answer('', label)}\n", SCHEME)
        assert (parsed.reasoning, parsed.label) == ("", label)


BAD = [
    ("", "missing <label>"),
    ("exact", "missing <label>"),
    ("<label>perfect</label>", "unknown label"),
    ("exact</reasoning><label>exact</label>", "missing <reasoning>"),
    ("<reasoning>ok</reasoning>", "missing <label>"),
    ("<reasoning>ok<label>exact</label>", "unclosed <reasoning>"),
    ("<reasoning>ok</reasoning><label>exact", "unclosed <label>"),
    ("<reasoning>ok</reasoning><label>perfect</label>", "unknown label"),
    ("<reasoning>ok</reasoning><label>Exact</label>", "unknown label"),
    ("<reasoning>   </reasoning><label>exact</label>", "empty reasoning"),
    ("<reasoning>ok</reasoning><label>exact</label> because", "trailing text"),
    ("Sure! <reasoning>ok</reasoning><label>exact</label>", "out of order or text outside"),
    ("<label>exact</label><reasoning>ok</reasoning>", "trailing text"),
    ("<reasoning>a <label>weak</label></reasoning><label>exact</label>", "nested tags"),
    ("<reasoning>ok</reasoning>\nlabel: exact", "missing <label>"),
    ("<reasoning>" + "x" * 2001 + "</reasoning><label>exact</label>", "maximum"),
    ("<reasoning>ok</reasoning><label></label>", "unknown label"),
    ("<reasoning>ok</reasoning><label>exact</label><label>weak</label>", "out of order or text outside"),
]


@pytest.mark.parametrize("answer, reason", BAD)
def test_bad_answers_are_rejected_with_reasons(answer, reason):
    with pytest.raises(AnswerParseError) as error:
        parse_answer(answer, SCHEME)
    assert reason in error.value.reason


def test_random_mutations_never_parse_silently_wrong():
    rng = random.Random(0)
    good = format_answer("the service matches the query", "relevant")
    for _ in range(500):
        chars = list(good)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(chars))
            chars[position] = rng.choice("<>/ax ")
        mutated = "".join(chars)
        try:
            parsed = parse_answer(mutated, SCHEME)
        except AnswerParseError:
            continue
        assert parsed.label in SCHEME.names and parsed.reasoning  # whatever parses is well formed


def test_prompt_is_chat_template_aware():
    class ChatTokenizer:
        chat_template = "x"

        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            return "|".join(f"{m['role']}:{m['content']}" for m in messages) + ("|assistant:" if add_generation_prompt else "")

    plain = build_prompt("hotpot", "Golden Hotpot", SCHEME)
    assert plain.startswith("You judge") and plain.endswith("Answer:\n") and "irrelevant, weak, relevant, exact" in plain
    chat = build_prompt("hotpot", "Golden Hotpot", SCHEME, ChatTokenizer())
    assert chat.startswith("system:You judge") and "user:Query: hotpot" in chat and chat.endswith("|assistant:")
