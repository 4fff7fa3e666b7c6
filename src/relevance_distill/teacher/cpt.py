"""Continued pre-training (domain adaptation): causal-LM training on platform text with TRL's SFTTrainer
(plain-text dataset, packing), full fine-tuning or LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.data.readers import iter_jsonl
from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.teacher.common import (
    TeacherTrainConfig,
    build_tiny_causal_lm,
    setup_training_process,
    train_and_save,
)


class CPTConfig(TeacherTrainConfig):
    """Continued pre-training on the platform corpus."""

    packing: bool = Field(default=True, description="Pack documents into full-length sequences (no padding waste).")
    tokenizer_texts: list[str] = Field(
        default_factory=list, description="Extra texts the 'tiny' tokenizer is trained on (e.g. prompts and answers).")


def read_corpus(uri: str) -> list[str]:
    texts = []
    for number, row in iter_jsonl(uri):
        if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
            texts.append(row["text"])
        else:
            raise ValueError(f"{uri}:{number} is not a corpus document {{\"text\": …}}")
    return texts


def run_cpt(config: CPTConfig, corpus_uri: str, output_dir: str | Path, checkpoint_uri: str | None = None,
            texts: list[str] | None = None) -> dict[str, Any]:
    """Causal-LM training on the documents of CORPUS_URI, or on TEXTS when given (data without a corpus)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    setup_training_process()
    output = Path(output_dir)
    texts = texts if texts is not None else read_corpus(corpus_uri)
    if config.init == "tiny":
        model, tokenizer = build_tiny_causal_lm(texts + config.tokenizer_texts, config)
    else:
        model, tokenizer = load_causal_lm(config.init)
    args = SFTConfig(**config.training_arguments(output / "checkpoints"), dataset_text_field="text",
                     packing=config.packing, max_length=config.max_length)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list([{"text": t} for t in texts]),
                         processing_class=tokenizer, peft_config=config.peft_config())
    return train_and_save(trainer, tokenizer, output, {"step": "cpt", "documents": len(texts), "corpus": corpus_uri or "pair texts", "config": config.model_dump()}, checkpoint_uri)
