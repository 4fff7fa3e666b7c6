"""All teacher steps in order (CPT → SFT → reward model → DPO), measured after SFT and after DPO.

OUTPUT/cpt, OUTPUT/sft, OUTPUT/reward, OUTPUT/dpo hold each step's published model (``model/``, with its
metrics.json) and checkpoints; OUTPUT/report.json holds macro-F1 on the gold test pairs after SFT and after
DPO, the majority-class baseline, and the mean of every reward dimension before and after DPO. OUTPUT may be
a directory or an s3:// prefix. A rerun resumes each step from its last published checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.distributed import on_main, world_size
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.profiles import TeacherConfig
from relevance_distill.teacher.stages import (
    cpt_step,
    preference_step,
    reward_step,
    sft_step,
)


def run_teacher(config: TeacherConfig, corpus_uri: str, train: list[QueryServicePair], test: list[QueryServicePair],
                scheme: LabelScheme, output: str | Path, eval_pairs: int = 0,
                workdir: str | Path | None = None) -> dict[str, Any]:
    output = str(output)
    cpt = cpt_step(config.cpt, corpus_uri, storage.join(output, "cpt"), scheme, train, workdir)
    sft = sft_step(config.sft, train, scheme, storage.join(output, "sft"), cpt["model_uri"], workdir)
    reward = reward_step(config.reward, train, scheme, storage.join(output, "reward"), workdir, sft["model_uri"])
    dpo = preference_step(config.preference, sft["model_uri"], reward["model_uri"], train, scheme,
                          storage.join(output, "dpo"), test, eval_pairs, workdir)
    evaluation = dpo["evaluation"]
    report: dict[str, Any] = {
        "profile": config.profile, "test_pairs": evaluation["test_pairs"],
        "majority_macro_f1": evaluation["majority_macro_f1"], "teacher_model_uri": dpo["model_uri"],
        "cpt": cpt["metrics"], "sft": sft["metrics"], "reward_model": reward["metrics"], "dpo": dpo["metrics"],
        "after_sft": evaluation["after_sft"], "after_dpo": evaluation["after_dpo"],
    }
    report["world_size"] = world_size()
    on_main(storage.write_text, storage.join(output, "report.json"), json.dumps(report, indent=2))
    return report
