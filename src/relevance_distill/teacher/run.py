"""All teacher steps in order, with the teacher's quality measured after SFT and after DPO.

OUTPUT/cpt, OUTPUT/sft, OUTPUT/reward, OUTPUT/dpo hold each step's model and metrics.json; OUTPUT/report.json
holds macro-F1 on the gold test pairs after SFT and after DPO, the majority-class baseline, and the mean of
every reward dimension before and after DPO. Each step resumes from its last checkpoint when rerun.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill.prompts import build_prompt, format_answer
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.common import load_causal_lm
from relevance_distill.teacher.cpt import run_cpt
from relevance_distill.teacher.evaluate import evaluate_teacher, majority_baseline
from relevance_distill.teacher.preference import run_preference
from relevance_distill.teacher.profiles import TeacherConfig
from relevance_distill.teacher.reward import RewardModel, train_reward_model
from relevance_distill.teacher.sft import run_sft


def run_teacher(config: TeacherConfig, corpus_uri: str, train: list[QueryServicePair], test: list[QueryServicePair],
                scheme: LabelScheme, output_dir: str | Path, eval_pairs: int = 200) -> dict[str, Any]:
    output = Path(output_dir)
    gold_test = [p for p in test if p.label][:eval_pairs]
    prompt_texts = [build_prompt(p.query, p.service.to_text(), scheme) + format_answer(p.reasoning or "", p.label or "")
                    for p in train if p.label]
    cpt_config = config.cpt.model_copy(update={"tokenizer_texts": prompt_texts}) if config.cpt.init == "tiny" else config.cpt
    report: dict[str, Any] = {"profile": config.profile, "test_pairs": len(gold_test),
                              "majority_macro_f1": majority_baseline(train, gold_test, scheme)}
    report["cpt"] = {k: v for k, v in run_cpt(cpt_config, corpus_uri, output / "cpt").items() if k != "config"}
    report["sft"] = {k: v for k, v in run_sft(config.sft, train, scheme, output / "sft", str(output / "cpt" / "model")).items()
                     if k != "config"}
    report["reward_model"] = train_reward_model(train, scheme, config.reward, output / "reward")
    reward = RewardModel.load(output / "reward" / "model", scheme)
    model, tokenizer = load_causal_lm(str(output / "sft" / "model"))
    report["after_sft"] = evaluate_teacher(model, tokenizer, gold_test, scheme, reward, config.preference.max_new_tokens)
    report["dpo"] = {k: v for k, v in run_preference(config.preference, str(output / "sft" / "model"), train, scheme,
                                                     reward, output / "dpo").items() if k != "config"}
    model, tokenizer = load_causal_lm(str(output / "dpo" / "model"))
    report["after_dpo"] = evaluate_teacher(model, tokenizer, gold_test, scheme, reward, config.preference.max_new_tokens)
    (output / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
