"""annotate/label_probs.py: every label name is scored from the same prefix tokens and the same character."""

from __future__ import annotations

from relevance_distill.llm.label_probs import (
    answer_prefix,
    continuation_token_start,
    continuations,
)
from relevance_distill.prompts import format_answer
from relevance_distill.schemas import get_label_scheme
from relevance_distill.teacher.common import train_bpe_tokenizer

SCHEME = get_label_scheme("local_services")


def test_every_label_name_is_scored_from_one_boundary_when_bpe_merges_a_tag_with_some_names_only():
    # Only "exact" is ever written, so BPE merges it with the tag's ">" (Qwen2's split joins punctuation to the
    # next word) and leaves the other names in pieces.
    answer = format_answer("Kind: asked for a gym, service is a gym.", "exact")
    tokenizer = train_bpe_tokenizer([f"query | service {answer}"] * 200, vocab_size=400)
    assert ">exact" in tokenizer.convert_tokens_to_string(tokenizer.tokenize(answer))
    assert tokenizer.tokenize(">irrelevant")[0] == ">"
    prefix = "query | service " + answer_prefix(answer, SCHEME)
    boundaries = set()
    for text in continuations(SCHEME):
        encoded = tokenizer(prefix + text, add_special_tokens=False, return_offsets_mapping=True)
        ids, start = continuation_token_start(tokenizer, prefix + text, len(prefix))
        boundaries.add((tuple(ids[:start]), encoded["offset_mapping"][start][0]))
    # One conditioning sequence and one first scored character for all names: the softmax over names compares
    # the probabilities of whole, equally anchored continuations.
    assert len(boundaries) == 1, boundaries
