"""The teacher's label quality on gold pairs: macro-F1 of its parsed labels, parse failures, mean rewards."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from relevance_distill.config import EngineConfig
from relevance_distill.evaluation.metrics import (
    macro_f1,
    quadratic_weighted_kappa,
)
from relevance_distill.llm.consistency import majority_label
from relevance_distill.llm.generate import generate_answers
from relevance_distill.prompts import AnswerParseError, build_prompt, parse_answer
from relevance_distill.schemas import LabelScheme, QueryServicePair


def majority_baseline(train: list[QueryServicePair], test: list[QueryServicePair], scheme: LabelScheme) -> float:
    """Macro-F1 of always predicting the most frequent training label."""
    majority = Counter(p.label for p in train if p.label).most_common(1)[0][0]
    gold = np.array([scheme.index(p.label) for p in test])
    return macro_f1(gold, np.full(len(gold), scheme.index(majority)), scheme.num_labels)


def evaluate_teacher(model: Any, tokenizer: Any, pairs: list[QueryServicePair], scheme: LabelScheme,
                     reward: Any | None = None, max_new_tokens: int = 160, voting: EngineConfig | None = None,
                     ) -> dict[str, Any]:
    """The teacher's labels for labelled pairs: greedy answers, or with VOTING (an annotation engine config) the
    majority label of its ``samples`` answers per pair at its temperature, top-p and seed, the self-consistency vote
    annotation uses (``annotate/consistency.py``). A pair without a parseable answer counts as wrong (it could not
    label the pair); the reward model scores each pair's first answer."""
    samples = voting.samples if voting is not None else 1
    gold_pairs = [p for p in pairs if p.label]
    prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer) for p in gold_pairs]
    if voting is None:
        generated = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens)
    else:
        generated = generate_answers(model, tokenizer, prompts, samples=samples, do_sample=voting.temperature > 0,
                                     temperature=voting.temperature, top_p=voting.top_p, max_new_tokens=max_new_tokens,
                                     seed=voting.seed)
    answers = [pair_answers[0] for pair_answers in generated]
    predicted, failures = [], Counter()
    for pair_answers in generated:
        votes = Counter()
        for answer in pair_answers:
            try:
                votes[parse_answer(answer, scheme).label] += 1
            except AnswerParseError as error:
                failures[error.reason.split(":")[0]] += 1
        predicted.append(scheme.index(majority_label(votes, scheme)) if votes else -1)
    gold = np.array([scheme.index(p.label) for p in gold_pairs])
    # An unparsed answer (-1) is wrong and claims no label (``macro_f1``).
    scored = np.array([k if k >= 0 else scheme.num_labels for k in predicted])
    result: dict[str, Any] = {
        "pairs": len(gold_pairs),
        "macro_f1": macro_f1(gold, np.array(predicted), scheme.num_labels),
        "accuracy": float((scored == gold).mean()),
        # QWK needs a grade for every pair: an unparsed answer counts as the lowest grade (no relevance claimed).
        "qwk": quadratic_weighted_kappa(gold, np.where(scored < scheme.num_labels, scored, 0), scheme.num_labels),
        "parse_rate": float((scored < scheme.num_labels).mean()),
        "parse_failures": dict(failures),
        "samples": samples,
        # Per pair, in order: the label index, -1 where no answer parsed (paired comparisons with other models).
        "predicted": [int(k) for k in predicted],
    }
    if reward is not None:
        scores = reward.score([{"query": p.query, "service_text": p.service.to_text(), "answer": a, "gold_label": p.label}
                               for p, a in zip(gold_pairs, answers)])
        result["reward"] = {name: float(np.mean([s[name] for s in scores if name in s]))
                            for name in scores[0]} if scores else {}
    return result

