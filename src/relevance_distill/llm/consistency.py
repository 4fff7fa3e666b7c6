"""Self-consistency: n answers per pair → majority label, confidence = vote share, full vote distribution,
the reasoning of the best-scoring majority sample (reward model) or else the first majority sample, and the
mean of the samples' label distributions when the engine scored them (``annotate/label_probs.py``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from relevance_distill.llm.label_probs import mean_distribution
from relevance_distill.prompts import AnswerParseError, parse_answer
from relevance_distill.schemas import Annotation, LabelScheme, QueryServicePair


def majority_label(votes: Counter[str], scheme: LabelScheme) -> str:
    """The most voted label of VOTES (label -> count, at least one); ties break towards the lower grade, a
    conservative label for relevance."""
    top = max(votes.values())
    return min((name for name, count in votes.items() if count == top), key=scheme.index)


def aggregate(pair: QueryServicePair, answers: list[str], scheme: LabelScheme, teacher_version: str,
              reward: Any | None = None, distributions: list[dict[str, float] | None] | None = None,
              ) -> tuple[Annotation | None, dict[str, Any]]:
    """The annotation, or None with the quarantine record when no answer parses. DISTRIBUTIONS: per answer, its
    label distribution (None where it does not parse)."""
    parsed, failures = [], []
    for answer in answers:
        try:
            parsed.append(parse_answer(answer, scheme))
        except AnswerParseError as error:
            failures.append(error.reason)
    info = {"samples": len(answers), "parsed": len(parsed), "failures": failures}
    if not parsed:
        return None, {"pair_id": pair.pair_id, "reason": "no parseable sample", "reason_code": "unparseable",
                      "failures": failures, "raw_outputs": answers}
    votes = Counter(p.label for p in parsed)
    label = majority_label(votes, scheme)
    majority = [p for p in parsed if p.label == label]
    chosen = majority[0]
    if reward is not None and len(majority) > 1:
        scores = reward.score([{"query": pair.query, "service_text": pair.service.to_text(),
                                "answer": f"<reasoning>{p.reasoning}</reasoning><label>{p.label}</label>"} for p in majority])
        chosen = majority[max(range(len(majority)), key=lambda i: scores[i]["total"])]
    total = len(parsed)
    annotation = Annotation(pair_id=pair.pair_id, label=label, reasoning=chosen.reasoning, confidence=votes[label] / total,
                            votes={name: votes.get(name, 0) / total for name in scheme.names if votes.get(name)},
                            label_probs=mean_distribution([d for d in distributions or [] if d], scheme),
                            teacher_version=teacher_version)
    return annotation, info
