"""All teacher steps in order on the smoke profile; DPO moves the policy towards the answers its reward model chose.

At smoke size the reward model ranks held-out pairs near chance (0.43-0.57 in two runs), so the mean reward of sampled answers
on held-out prompts measures noise; what DPO must do here is what it optimises: raise the log-probability margin of
each chosen answer over its rejected one."""

from __future__ import annotations

import json

import numpy as np
import torch

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.readers import read_models
from relevance_distill.data.split import split_pairs
from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.profiles import teacher_config
from relevance_distill.teacher.run import run_teacher

SCHEME = get_label_scheme("local_services")


def completion_logprob(model, tokenizer, prompt: str, completion: str) -> float:
    prompt_ids = tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids + tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]])
    with torch.no_grad():
        logprobs = model(ids).logits[0, :-1].float().log_softmax(-1)
    targets = ids[0, 1:, None]
    return logprobs[len(prompt_ids) - 1:].gather(1, targets[len(prompt_ids) - 1:]).sum().item()


def preference_margins(model_dir, scored_pairs) -> np.ndarray:
    """log p(chosen | prompt) - log p(rejected | prompt) per preference pair."""
    model, tokenizer = load_causal_lm(str(model_dir))
    model.eval()
    return np.array([completion_logprob(model, tokenizer, p["prompt"], p["chosen"])
                     - completion_logprob(model, tokenizer, p["prompt"], p["rejected"]) for p in scored_pairs])


def test_smoke_teacher_end_to_end_and_dpo_raises_reward(tmp_path):
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=0, corpus_documents=80, seed=3), tmp_path / "data")
    pairs = read_models(str(tmp_path / "data" / "labeled.jsonl"), QueryServicePair)
    splits = split_pairs(pairs, {"train": 0.8, "test": 0.2}, "query", seed=3)
    report = run_teacher(teacher_config("smoke"), str(tmp_path / "data" / "corpus.jsonl"), splits["train"], splits["test"],
                         SCHEME, tmp_path / "teacher", eval_pairs=16)
    assert json.loads((tmp_path / "teacher" / "report.json").read_text())["profile"] == "smoke"
    for step in ("cpt", "sft", "reward", "dpo"):
        assert (tmp_path / "teacher" / step / "model" / "metrics.json").is_file()
        assert (tmp_path / "teacher" / step / "model" / "manifest.json").is_file()
    scored_pairs = [json.loads(line) for line in (tmp_path / "teacher" / "dpo" / "pairs.jsonl").read_text().splitlines()]
    assert scored_pairs and all(p["chosen_reward"]["total"] >= p["rejected_reward"]["total"] for p in scored_pairs)
    assert {"after_sft", "after_dpo", "majority_macro_f1"} <= set(report)
    from safetensors.torch import load_file

    sft_weights = load_file(str(tmp_path / "teacher" / "sft" / "model" / "model.safetensors"))
    dpo_weights = load_file(str(tmp_path / "teacher" / "dpo" / "model" / "model.safetensors"))
    assert any(not (sft_weights[name] == dpo_weights[name]).all() for name in sft_weights), "DPO did not change the weights"
    before = preference_margins(tmp_path / "teacher" / "sft" / "model", scored_pairs)
    after = preference_margins(tmp_path / "teacher" / "dpo" / "model", scored_pairs)
    print(f"chosen-over-rejected log-probability margin on {len(scored_pairs)} DPO pairs: SFT {before.mean():.3f}, "
          f"DPO {after.mean():.3f}, higher on {(after > before).sum()}")
    assert after.mean() > before.mean() + 1.0
    assert (after > before).mean() > 0.5
