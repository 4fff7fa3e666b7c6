"""Preference optimisation: sample k answers per prompt from the SFT teacher, score them with the reward
model, keep (best, worst) when their total rewards differ by more than a margin, and train DPO (TRL) with
the SFT model as the reference. The scored pairs are saved (``pairs.jsonl``): users inspect them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.data.readers import write_jsonl
from relevance_distill.distributed import from_main, on_main
from relevance_distill.llm.generate import generate_answers
from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.prompts import build_prompt
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.common import (
    TeacherTrainConfig,
    setup_training_process,
    train_and_save,
)
from relevance_distill.teacher.reward import RewardModel


class PreferenceConfig(TeacherTrainConfig):
    """Sampling, pair selection and DPO."""

    samples_per_prompt: int = Field(default=4, ge=2, description="k answers sampled per prompt.")
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature for the k answers.")
    max_new_tokens: int = Field(default=160, ge=8, description="Longest sampled answer.")
    reward_margin: float = Field(default=0.1, ge=0, description="Minimum total-reward gap between chosen and rejected.")
    max_prompts: int = Field(default=256, ge=1, description="Prompts sampled for preference pairs.")
    beta: float = Field(default=0.1, gt=0, description="DPO β (strength of the pull towards the reference model).")


def build_pairs(model: Any, tokenizer: Any, pairs: list[QueryServicePair], scheme: LabelScheme, reward: RewardModel,
                config: PreferenceConfig) -> list[dict[str, Any]]:
    selected = [p for p in pairs if p.label][: config.max_prompts]
    prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer) for p in selected]
    samples = generate_answers(model, tokenizer, prompts, config.samples_per_prompt, do_sample=True,
                               temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=config.seed)
    records = []
    for pair, prompt, answers in zip(selected, prompts, samples):
        scores = reward.score([{"query": pair.query, "service_text": pair.service.to_text(), "answer": a,
                                "gold_label": pair.label} for a in answers])
        ranked = sorted(zip(answers, scores), key=lambda item: item[1]["total"])
        (worst, worst_score), (best, best_score) = ranked[0], ranked[-1]
        if best_score["total"] - worst_score["total"] > config.reward_margin:
            records.append({"pair_id": pair.pair_id, "prompt": prompt, "chosen": best, "rejected": worst,
                            "chosen_reward": best_score, "rejected_reward": worst_score})
    return records


def run_preference(config: PreferenceConfig, sft_uri: str, pairs: list[QueryServicePair], scheme: LabelScheme,
                   reward: RewardModel, output_dir: str | Path, checkpoint_uri: str | None = None) -> dict[str, Any]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    setup_training_process()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_causal_lm(sft_uri)
    records = from_main(build_pairs, model, tokenizer, pairs, scheme, reward, config)
    on_main(write_jsonl, str(output / "pairs.jsonl"), records)
    if not records:
        raise ValueError(f"no sampled answers differ by more than the reward margin {config.reward_margin}; "
                         "lower reward_margin or raise samples_per_prompt/temperature")
    tokenizer.padding_side = "left"
    args = DPOConfig(**config.training_arguments(output / "checkpoints"), beta=config.beta, max_length=config.max_length)
    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in records])
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=config.peft_config())
    return train_and_save(trainer, tokenizer, output, {
        "step": "dpo", "prompts": min(len(pairs), config.max_prompts), "pairs": len(records),
        "mean_reward_gap": sum(r["chosen_reward"]["total"] - r["rejected_reward"]["total"] for r in records) / len(records),
        "config": config.model_dump()}, checkpoint_uri)
