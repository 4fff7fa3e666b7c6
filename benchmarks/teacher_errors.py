"""Where a teacher's reasoning goes wrong: its greedy chains on gold test pairs against the gold chains, check by check.

    python benchmarks/teacher_errors.py MODEL_DIR TEST.jsonl [PAIRS]

For built-in data (chains written by ``data/generate.py``): the first sentence (the asked-for and offered kind of
service), and the district, feature and price checks, each compared by the end of its sentence (the service's
district or the check's outcome), plus the label, per query language. The district and price checks are also split into
their parts: the asked-for value (copied from the query), the service's value (copied from the service), the digit
steps of a price comparison, and the outcome, which is counted again where both values were copied right
(`outcome_given_values`: can the teacher compare what it copied?) and where the digit steps are right
(`outcome_given_steps`: does the verdict follow the steps?), and split by whether the two values are the same
(`outcome_when_equal` / `_unequal`: a teacher that never learnt to test two districts for equality says "not met"). Prints the counts and a few chains side by side.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

from teacher_budget import ANSWER_TOKENS

from relevance_distill.llm.generate import generate_answers
from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.prompts import AnswerParseError, build_prompt, parse_answer
from relevance_distill.schemas import get_label_scheme
from relevance_distill.teacher.stages import read_pairs

CHECKS = {"district": r"(Location:[^:]*:\s*(met|not met))|(位置:[^。]*(满足|不满足))",
          "price": r"(Price:[^.]*?:\s*(met|too expensive))|(价格:[^。]*(满足|超出))",
          "feature": r"(offered|not offered|商户提供|商户未提供)"}


# The two checks that compare a query's value with a service's: the asked-for value, the service's value, the
# digit-by-digit comparison of prices (chains from 2026-12-04 on; `data/generate.py: digit_comparison`) and the outcome.
CHECK_PARTS = {"district": (r"Location: asked for (?P<asked>\S+), service is in (?P<service>\S+): (?P<outcome>met|not met)",
                            r"位置:要求(?P<asked>\S+?),商户在(?P<service>\S+?),(?P<outcome>满足|不满足)"),
               "price": (r"Price: asked for under (?P<asked>\d+), service costs (?P<service>[\d.]+)(?:; (?P<steps>[^:]+: [^:]+))?"
                         r": (?P<outcome>met|too expensive)",
                         r"价格:要求(?P<asked>\d+)元以内,人均(?P<service>[\d.]+)元,(?:逐位比较(?P<steps>.+?),)?(?P<outcome>满足|超出)")}
PARTS = ("asked", "service", "outcome")


def check_parts(chain: str) -> dict[str, dict[str, str]]:
    """Each compared check's parts (``PARTS``, and ``steps`` where the chain compares digit by digit)."""
    found = {}
    for name, patterns in CHECK_PARTS.items():
        for pattern in patterns:
            match = re.search(pattern, chain)
            if match:
                found[name] = {part: value for part, value in match.groupdict().items() if value is not None}
                break
    return found


def part_stats(gold_chain: str, written_chain: str) -> Counter[str]:
    """Per compared check of the gold chain: asked / service / outcome (and steps) right or wrong; the outcome again
    where both values are right, and where the digit steps are right."""
    stats: Counter[str] = Counter()
    written = check_parts(written_chain)
    for name, gold in check_parts(gold_chain).items():
        got = written.get(name, {})
        for part in (*PARTS, "steps") if "steps" in gold else PARTS:
            stats[f"{name}_{part}_{'ok' if gold[part] == got.get(part) else 'bad'}"] += 1
        outcome = "ok" if gold["outcome"] == got.get("outcome") else "bad"
        if all(gold[part] == got.get(part) for part in ("asked", "service")):
            stats[f"{name}_outcome_given_values_{outcome}"] += 1
        same = "equal" if gold["asked"] == gold["service"] else "unequal"  # e.g. both districts Shunyi
        stats[f"{name}_outcome_when_{same}_{outcome}"] += 1
        if "steps" in gold and gold["steps"] == got.get("steps"):
            stats[f"{name}_outcome_given_steps_{outcome}"] += 1
    return stats


def checks(chain: str) -> dict[str, str]:
    """Each check's sentence ending (12 characters: the service's value and the outcome)."""
    found = {}
    for name, pattern in CHECKS.items():
        match = re.search(pattern, chain)
        if match:
            found[name] = match.group(0)[-12:]
    return found


def first_sentence(chain: str) -> str:
    return chain.split(".")[0].split("。")[0]


def main() -> None:
    model_dir, test_uri = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 160
    scheme = get_label_scheme("local_services")
    model, tokenizer = load_causal_lm(model_dir)
    pairs = read_pairs(test_uri)[:count]
    prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer) for p in pairs]
    answers = [samples[0] for samples in generate_answers(model, tokenizer, prompts, max_new_tokens=ANSWER_TOKENS, batch_size=16)]
    stats: Counter[str] = Counter()
    for pair, answer in zip(pairs, answers):
        try:
            parsed = parse_answer(answer, scheme)
        except AnswerParseError:
            stats["unparsed"] += 1
            continue
        verdict = "ok" if parsed.label == pair.label else "bad"
        stats[f"label_{verdict}"] += 1
        stats[f"label_{pair.language}_{verdict}"] += 1
        stats["first_sentence_" + ("ok" if first_sentence(pair.reasoning) == first_sentence(parsed.reasoning) else "bad")] += 1
        gold, written = checks(pair.reasoning), checks(parsed.reasoning)
        for name in gold:
            stats[f"{name}_{'ok' if written.get(name) == gold[name] else 'bad'}"] += 1
        stats.update(part_stats(pair.reasoning, parsed.reasoning))
    print(dict(sorted(stats.items())))
    for pair, answer in list(zip(pairs, answers))[:4]:
        print(f"gold:    {pair.reasoning}\nteacher: {answer}\n")


if __name__ == "__main__":
    main()
