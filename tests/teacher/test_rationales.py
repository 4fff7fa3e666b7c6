"""Rationales for gold pairs without reasoning: rejection sampling, the label-only fallback, the reward model's
consistency head without chains."""

from __future__ import annotations

from relevance_distill.schemas import get_label_scheme
from relevance_distill.teacher.rationales import (
    RationaleConfig,
    _first_agreeing_chain,
    write_rationales,
)
from relevance_distill.teacher.reward import preference_pairs, trained_heads

SCHEME = get_label_scheme("local_services")


def test_only_a_chain_that_reaches_the_gold_label_is_kept():
    agreeing = "<reasoning>The service is a hotpot place in the asked district.</reasoning><label>exact</label>"
    assert _first_agreeing_chain(["<label>exact</label>", "nonsense", agreeing], "exact", SCHEME) == (
        "The service is a hotpot place in the asked district.", "")
    assert _first_agreeing_chain([agreeing], "weak", SCHEME) == ("", "label disagrees with gold")
    assert _first_agreeing_chain(["<label>exact</label>"], "exact", SCHEME) == ("", "no reasoning")
    assert _first_agreeing_chain(["so the label is exact"], "exact", SCHEME)[1].startswith("unparseable")


def test_without_a_reasoning_model_sft_falls_back_to_label_only_answers(builtin_splits):
    pairs = [pair.model_copy(update={"reasoning": None}) for pair in builtin_splits["train"][:40]]
    # 'tiny' (no trained model to write with): nothing is kept, every pair teaches its label alone.
    sft_pairs, stats, records = write_rationales(pairs, SCHEME, RationaleConfig(min_kept=8), "tiny")
    assert stats["answer_format"] == "label_only" and stats["kept"] == 0 and records == []
    assert len(sft_pairs) == 40 and not any(pair.reasoning for pair in sft_pairs)
    # Gold reasoning needs no rationale step.
    gold_pairs, gold_stats, _ = write_rationales(builtin_splits["train"][:40], SCHEME, RationaleConfig(), "tiny")
    assert gold_stats["answer_format"] == "reasoning" and gold_stats["without_reasoning"] == 0 and len(gold_pairs) == 40


def test_reward_pairs_without_reasoning_train_consistency_only(builtin_splits):
    plain = [pair.model_copy(update={"reasoning": None}) for pair in builtin_splits["train"][:30]]
    records = preference_pairs(plain, SCHEME, seed=0)
    assert len(records) == 30 and trained_heads(records) == ["consistency"]
    assert all(record["chosen"].startswith("<label>") for record in records)
    assert trained_heads(preference_pairs(builtin_splits["train"][:30], SCHEME, seed=0)) == ["faithfulness", "consistency"]
