"""Reasoning SFT: the teacher learns to answer the prompt with <reasoning>…</reasoning><label>…</label>.

Prompt-completion examples with TRL's SFTTrainer, loss on the answer (completion) only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.prompts import build_prompt, format_answer
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.common import (
    TeacherTrainConfig,
    build_tiny_causal_lm,
    load_causal_lm,
    setup_training_process,
    train_and_save,
)
from relevance_distill.teacher.rationales import RationaleConfig


class SFTStageConfig(TeacherTrainConfig):
    """Reasoning SFT on (query, service, label, reasoning) records."""

    rationales: RationaleConfig = Field(
        default_factory=RationaleConfig, description="Chains for gold pairs without reasoning (rejection sampling).")


def sft_examples(pairs: list[QueryServicePair], scheme: LabelScheme, tokenizer: Any | None,
                 label_only: bool = False) -> list[dict[str, str]]:
    """Prompt-completion records. With reasoning answers, pairs without a chain cannot teach the answer format and
    are left out; LABEL_ONLY answers (no chains to learn from) use every labelled pair."""
    examples = []
    for pair in pairs:
        if pair.label and (pair.reasoning or label_only):
            examples.append({"prompt": build_prompt(pair.query, pair.service.to_text(), scheme, tokenizer),
                             "completion": format_answer("" if label_only else pair.reasoning, pair.label)})
    if not examples:
        raise ValueError("no pair has both a label and a reasoning chain (and label-only answers were not chosen)")
    return examples


def run_sft(config: SFTStageConfig, pairs: list[QueryServicePair], scheme: LabelScheme, output_dir: str | Path,
            init_uri: str | None = None, checkpoint_uri: str | None = None, label_only: bool = False) -> dict[str, Any]:
    """Train from ``init_uri`` (the CPT model) or ``config.init``; saves OUTPUT/model. LABEL_ONLY: the answers are
    the labels alone (``teacher/rationales.py`` decides)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    setup_training_process()
    output = Path(output_dir)
    source = init_uri or config.init
    if source == "tiny":
        plain = sft_examples(pairs, scheme, None, label_only)
        model, tokenizer = build_tiny_causal_lm([e["prompt"] + e["completion"] for e in plain], config)
    else:
        model, tokenizer = load_causal_lm(source)
    examples = sft_examples(pairs, scheme, tokenizer, label_only)
    args = SFTConfig(**config.training_arguments(output / "checkpoints"), max_length=config.max_length,
                     completion_only_loss=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer,
                         peft_config=config.peft_config())
    return train_and_save(trainer, tokenizer, output, {"step": "sft", "examples": len(examples), "answer_format": "label_only" if label_only else "reasoning",
                                                     "config": config.model_dump()}, checkpoint_uri)
