"""The teacher's probability of every label at the label position of its own answer (for ``logit_kd``).

For an answer ``<reasoning>R</reasoning><label>L</label>`` the prefix is the prompt plus the answer up to its
label tag; each label name N is scored as the log-probability of the continuation ``<label>N</label>`` given that
prefix (the closing tag makes a name that is the start of another one a different sequence), and a softmax over
the scheme's names gives the distribution. The opening tag is part of every continuation because BPE may merge its
``>`` with some names and not others (Qwen2's split joins punctuation to the next word: ``>exact`` but ``>``
``weak``); a prefix ending at ``>`` would then score one name from another character than the rest. The tag's
probability is the same for every name, so the softmax removes it. This is the label-name part of the teacher's
next-token distribution at the label position, conditioned on the reasoning it wrote. Over a pair's parsed
samples the distributions are averaged (the teacher's belief marginalised over its chains).

Both engines score the same token sequences: the continuation's tokens are found by character offsets in the
jointly tokenised text, so a token that BPE merges across the boundary is scored with the continuation.
"""

from __future__ import annotations

import math
from typing import Any

from relevance_distill.prompts import (
    LABEL_CLOSE,
    LABEL_OPEN,
    AnswerParseError,
    parse_answer,
)
from relevance_distill.schemas import LabelScheme


def answer_prefix(answer: str, scheme: LabelScheme) -> str | None:
    """The answer up to its label tag, or None when the answer does not parse."""
    try:
        parse_answer(answer, scheme)
    except AnswerParseError:
        return None
    return answer[: answer.rindex(LABEL_OPEN)]


def continuations(scheme: LabelScheme) -> list[str]:
    return [f"{LABEL_OPEN}{name}{LABEL_CLOSE}" for name in scheme.names]


def continuation_token_start(tokenizer: Any, text: str, prefix_chars: int) -> tuple[list[int], int]:
    """Token ids of TEXT and the index of its first token that ends after PREFIX_CHARS characters."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    start = next((i for i, (_, end) in enumerate(offsets) if end > prefix_chars), len(ids))
    if start == 0:
        raise ValueError("a label continuation needs a non-empty prefix to condition on")
    return ids, start


def normalise(log_probs: list[float]) -> list[float]:
    top = max(log_probs)
    weights = [math.exp(value - top) for value in log_probs]
    total = sum(weights)
    return [weight / total for weight in weights]


def label_distributions(engine: Any, prompts: list[str], answers: list[list[str]],
                        scheme: LabelScheme) -> list[list[dict[str, float] | None]]:
    """Per prompt, per sample: {label: probability} for answers that parse, None for the others."""
    requests: list[tuple[str, list[str]]] = []
    where: list[tuple[int, int]] = []
    for prompt_index, (prompt, samples) in enumerate(zip(prompts, answers)):
        for sample_index, answer in enumerate(samples):
            prefix = answer_prefix(answer, scheme)
            if prefix is not None:
                requests.append((prompt + prefix, continuations(scheme)))
                where.append((prompt_index, sample_index))
    result: list[list[dict[str, float] | None]] = [[None] * len(samples) for samples in answers]
    if not requests:
        return result
    scores = engine.score_continuations(requests)
    for (prompt_index, sample_index), log_probs in zip(where, scores):
        result[prompt_index][sample_index] = dict(zip(scheme.names, normalise(log_probs)))
    return result


def mean_distribution(distributions: list[dict[str, float]], scheme: LabelScheme) -> dict[str, float]:
    """The average of the samples' distributions (empty when there are none)."""
    if not distributions:
        return {}
    return {name: sum(d[name] for d in distributions) / len(distributions) for name in scheme.names}
