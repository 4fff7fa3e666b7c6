"""All teacher steps in order on the smoke profile; DPO raises the mean reward of sampled answers."""

from __future__ import annotations

import json

import numpy as np

from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.generate import generate_dataset
from relevance_distill.data.readers import read_models
from relevance_distill.data.split import split_pairs
from relevance_distill.prompts import build_prompt
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.common import load_causal_lm
from relevance_distill.teacher.generate import generate_answers
from relevance_distill.teacher.profiles import teacher_config
from relevance_distill.teacher.reward import RewardModel
from relevance_distill.teacher.run import run_teacher

SCHEME = get_label_scheme("local_services")


def mean_sampled_reward(model_dir, pairs, reward) -> float:
    model, tokenizer = load_causal_lm(str(model_dir))
    prompts = [build_prompt(p.query, p.service.to_text(), SCHEME, tokenizer) for p in pairs]
    samples = generate_answers(model, tokenizer, prompts, samples=4, do_sample=True, max_new_tokens=64, seed=123)
    items = [{"query": p.query, "service_text": p.service.to_text(), "answer": a, "gold_label": p.label}
             for p, answers in zip(pairs, samples) for a in answers]
    return float(np.mean([s["total"] for s in reward.score(items)]))


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
    reward = RewardModel.load(tmp_path / "teacher" / "reward" / "model", SCHEME)
    held_out = [p for p in splits["test"] if p.label][:24]
    before = mean_sampled_reward(tmp_path / "teacher" / "sft" / "model", held_out, reward)
    after = mean_sampled_reward(tmp_path / "teacher" / "dpo" / "model", held_out, reward)
    print(f"mean total reward of sampled answers on {len(held_out)} held-out prompts: SFT {before:.4f}, DPO {after:.4f}")
    assert after > before
