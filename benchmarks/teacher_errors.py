"""Where a teacher's reasoning goes wrong: its greedy chains on gold test pairs against the gold chains, check by check.

    python benchmarks/teacher_errors.py MODEL_DIR TEST.jsonl [PAIRS]

For built-in data (chains written by ``data/generate.py``): the first sentence (the asked-for and offered kind of
service), and the district, feature and price checks, each compared by the end of its sentence (the service's
district or the check's outcome), plus the label, per query language. The district and price checks are also split into
their parts: the asked-for value (copied from the query), the service's value (copied from the service) and the
outcome, which is counted again where both values were copied right (`outcome_given_values`: can the teacher compare
what it copied?). Prints the counts and a few chains side by side.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

from relevance_distill.prompts import AnswerParseError, build_prompt, parse_answer
from relevance_distill.schemas import get_label_scheme
from relevance_distill.teacher.common import load_causal_lm
from relevance_distill.teacher.generate import generate_answers
from relevance_distill.teacher.stages import read_pairs

CHECKS = {"district": r"(Location:[^:]*:\s*(met|not met))|(位置:[^。]*(满足|不满足))",
          "price": r"(Price:[^:]*:\s*(met|too expensive))|(价格:[^。]*(满足|超出))",
          "feature": r"(offered|not offered|商户提供|商户未提供)"}


# (asked-for value, service's value, outcome) of the two checks that compare a query's value with a service's.
CHECK_PARTS = {"district": r"Location: asked for (\S+), service is in (\S+): (met|not met)|位置:要求(\S+?),商户在(\S+?),(满足|不满足)",
               "price": r"Price: asked for under (\d+), service costs ([\d.]+): (met|too expensive)"
                        r"|价格:要求(\d+)元以内,人均([\d.]+)元,(满足|超出)"}


def check_parts(chain: str) -> dict[str, tuple[str, str, str]]:
    found = {}
    for name, pattern in CHECK_PARTS.items():
        match = re.search(pattern, chain)
        if match:
            groups = [group for group in match.groups() if group is not None]
            found[name] = (groups[0], groups[1], groups[2])
    return found


def part_stats(gold_chain: str, written_chain: str) -> Counter[str]:
    """Per compared check of the gold chain: asked / service / outcome right or wrong, and the outcome again where both
    values are right."""
    stats: Counter[str] = Counter()
    written = check_parts(written_chain)
    for name, (asked, offered, outcome) in check_parts(gold_chain).items():
        got = written.get(name, ("", "", ""))
        for part, want, have in zip(("asked", "service", "outcome"), (asked, offered, outcome), got):
            stats[f"{name}_{part}_{'ok' if want == have else 'bad'}"] += 1
        if (asked, offered) == got[:2]:
            stats[f"{name}_outcome_given_values_{'ok' if outcome == got[2] else 'bad'}"] += 1
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
    answers = [samples[0] for samples in generate_answers(model, tokenizer, prompts, max_new_tokens=160, batch_size=16)]
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
