"""Rationales for gold pairs that come without reasoning (every real dataset): a reasoning model writes a chain
for each (query, item, gold label); only chains whose parsed label equals the gold label are kept (rejection
sampling). Reasoning SFT trains on the kept chains; when fewer than ``min_kept`` pass, it trains on label-only
answers instead, and the step's metrics say so (``answer_format``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field

from relevance_distill.prompts import (
    AnswerParseError,
    build_prompt,
    parse_answer,
    rationale_hint,
)
from relevance_distill.schemas import LabelScheme, QueryServicePair, StrictModel

ANSWER_FORMATS = ("reasoning", "label_only")


class RationaleConfig(StrictModel):
    """The rationale step of reasoning SFT."""

    enabled: bool = Field(default=True, description="Write chains for gold pairs without reasoning before SFT.")
    model_uri: str = Field(
        default="", description="Reasoning model (s3:// or directory; in production a larger instruction model); "
        "'' = the SFT's starting model (the CPT model).")
    engine: Literal["transformers", "vllm"] = Field(default="transformers", description="Generation engine.")
    max_pairs: int = Field(default=0, ge=0, description="Gold pairs without reasoning sent to the model (0: all).")
    samples: int = Field(default=2, ge=1, description="Chains sampled per pair; the first with the gold label is kept.")
    temperature: float = Field(default=0.7, gt=0, description="Sampling temperature.")
    max_new_tokens: int = Field(default=160, ge=8, description="Longest chain + label.")
    min_kept: int = Field(
        default=32, ge=1, description="Fewer kept chains than this: SFT trains every pair on label-only answers.")


def write_rationales(pairs: list[QueryServicePair], scheme: LabelScheme, config: RationaleConfig,
                     default_model_uri: str) -> tuple[list[QueryServicePair], dict[str, Any], list[dict[str, Any]]]:
    """SFT's training pairs, the step's statistics and one record per pair sent to the reasoning model.

    Pairs that already have gold reasoning are kept as they are. Without any pair lacking reasoning, nothing
    is generated.
    """
    labelled = [p for p in pairs if p.label]
    with_gold = [p for p in labelled if p.reasoning]
    missing = [p for p in labelled if not p.reasoning]
    stats: dict[str, Any] = {"pairs": len(labelled), "with_gold_reasoning": len(with_gold),
                             "without_reasoning": len(missing), "sent": 0, "kept": 0, "rejected": 0,
                             "per_label": {}, "rejection_reasons": {}, "model_uri": None}
    if not missing:
        return labelled, {**stats, "answer_format": "reasoning"}, []
    model_uri = config.model_uri or default_model_uri
    sent = missing[: config.max_pairs or None] if config.enabled else []
    kept, records = [], []
    per_label: dict[str, Counter[str]] = {name: Counter() for name in scheme.names}
    reasons: Counter[str] = Counter()
    if sent and model_uri and model_uri != "tiny":
        from relevance_distill.config import EngineConfig
        from relevance_distill.llm.engines import make_engine

        engine = make_engine(model_uri, EngineConfig(engine=config.engine, samples=config.samples,
                                                     temperature=config.temperature, max_new_tokens=config.max_new_tokens))
        try:
            tokenizer = engine.prompt_tokenizer()
            prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer, rationale_hint(p.label)) for p in sent]
            answers = engine.generate(prompts)
        finally:
            engine.close()
        stats["model_uri"] = model_uri
        for pair, samples in zip(sent, answers):
            chain, why = _first_agreeing_chain(samples, pair.label, scheme)
            per_label[pair.label]["kept" if chain else "rejected"] += 1
            if chain:
                kept.append(pair.model_copy(update={"reasoning": chain}))
            else:
                reasons[why] += 1
            records.append({"pair_id": pair.pair_id, "label": pair.label, "kept": bool(chain),
                            "reasoning": chain, "rejected_because": None if chain else why, "samples": samples})
    stats.update(sent=len(records), kept=len(kept), rejected=len(records) - len(kept),
                 per_label={name: dict(counts) for name, counts in per_label.items() if counts},
                 rejection_reasons=dict(reasons))
    if len(with_gold) + len(kept) >= config.min_kept:
        return with_gold + kept, {**stats, "answer_format": "reasoning"}, records
    # Too few chains to teach the answer format: every pair teaches its label alone.
    label_only = [p.model_copy(update={"reasoning": None}) for p in labelled]
    return label_only, {**stats, "answer_format": "label_only"}, records


def _first_agreeing_chain(samples: list[str], gold: str, scheme: LabelScheme) -> tuple[str, str]:
    """The first sampled chain whose label is GOLD, or '' and why none was."""
    why = "no sample"
    for sample in samples:
        try:
            parsed = parse_answer(sample, scheme)
        except AnswerParseError as error:
            why = "unparseable: " + error.reason.split(":")[0]
            continue
        if not parsed.reasoning:
            why = "no reasoning"
        elif parsed.label != gold:
            why = "label disagrees with gold"
        else:
            return parsed.reasoning, ""
    return "", why
