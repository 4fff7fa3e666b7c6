"""Does a teacher compare districts, or recall each training pair's outcome? Counterfactual training pairs.

    python benchmarks/district_probe.py MODEL_DIR TRAIN.jsonl [PAIRS]

Takes the first PAIRS training pairs (built-in data) whose chain checks a district and moves the service: into the
asked-for district where it was elsewhere, out of it (to the next district) where it was there, every form of the
name rewritten in the service's text. The asked-for district and the rest of the pair stay as trained. A teacher that
compares what it copies writes the new district and flips the outcome; one that memorised the pair writes the new
district and keeps the trained outcome. Prints, for original and moved pairs, how often the written service district
and the written outcome match the truth.
"""

from __future__ import annotations

import sys
from collections import Counter

from teacher_budget import ANSWER_TOKENS
from teacher_errors import check_parts

from relevance_distill.builtin_world.generate import (
    DISTRICTS,
    district_index,
    with_district,
)
from relevance_distill.llm.generate import generate_answers
from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.prompts import build_prompt
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.stages import read_pairs

MET = {"met": True, "not met": False, "满足": True, "不满足": False}


def moved(pair: QueryServicePair, asked: int, current: int) -> tuple[QueryServicePair, int]:
    """PAIR with its service in the asked-for district (or, if it is there already, in the next one); chain and label
    left as trained, since only the service is scored against the truth."""
    target = (asked + 1) % len(DISTRICTS) if asked == current else asked
    return pair.model_copy(update={"service": with_district(pair.service, target)}), target


def main() -> None:
    model_dir, train_uri = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    scheme = get_label_scheme("local_services")
    cases = []  # (kind, pair, true service district index, true outcome)
    for pair in read_pairs(train_uri):
        gold = check_parts(pair.reasoning or "").get("district")
        if gold is None:
            continue
        asked, current = district_index(gold["asked"]), district_index(gold["service"])
        cases.append(("original", pair, current, asked == current))
        other, target = moved(pair, asked, current)
        cases.append(("moved", other, target, asked == target))
        if len(cases) >= 2 * count:
            break
    model, tokenizer = load_causal_lm(model_dir)
    prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer) for _, p, _, _ in cases]
    answers = [s[0] for s in generate_answers(model, tokenizer, prompts, max_new_tokens=ANSWER_TOKENS, batch_size=16)]
    stats: Counter[str] = Counter()
    for (kind, _, district, met), answer in zip(cases, answers):
        written = check_parts(answer).get("district", {})
        wrote = written.get("service")
        stats[f"{kind}_pairs"] += 1
        stats[f"{kind}_service_district_right"] += wrote is not None and wrote in DISTRICTS[district]
        outcome_right = MET.get(written.get("outcome", "")) == met
        stats[f"{kind}_outcome_right"] += outcome_right
        stats[f"{kind}_{'equal' if met else 'unequal'}_outcome_right"] += outcome_right
        stats[f"{kind}_{'equal' if met else 'unequal'}"] += 1
    print(dict(sorted(stats.items())))


if __name__ == "__main__":
    main()
