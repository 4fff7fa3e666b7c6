"""Each teacher step as a unit of work between storage URIs (what the KFP components and ``run_teacher`` call).

A step trains in a local work directory, publishes its model to ``OUTPUT_URI/model`` (data first, manifest
last) and its checkpoints to ``OUTPUT_URI/checkpoints/latest`` while it trains, so a restarted pod resumes
from the last checkpoint instead of step 0. Its metrics (loss curve, rewards per dimension) are in
``OUTPUT_URI/model/metrics.json``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.config import EngineConfig
from relevance_distill.data.readers import read_models, write_jsonl
from relevance_distill.devices import choose_device
from relevance_distill.distributed import from_main, on_main
from relevance_distill.evaluation.retention import (
    TEACHER_EVALUATION_FILE as EVALUATION_FILE,
)
from relevance_distill.layout import METRICS_FILE, MODEL_DIR
from relevance_distill.llm.loading import load_causal_lm, resolve_model_dir
from relevance_distill.progress import report_result
from relevance_distill.prompts import build_prompt, format_answer
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.cpt import CPTConfig, run_cpt
from relevance_distill.teacher.evaluate import evaluate_teacher, majority_baseline
from relevance_distill.teacher.preference import PreferenceConfig, run_preference
from relevance_distill.teacher.rationales import write_rationales
from relevance_distill.teacher.reward import (
    RewardConfig,
    RewardModel,
    train_reward_model,
)
from relevance_distill.teacher.sft import SFTStageConfig, run_sft


def model_uri_of(output_uri: str) -> str:
    return storage.join(output_uri, MODEL_DIR)


def _publish(local_model: Path, output_uri: str, stage: str, extra_files: dict[str, Any] | None = None) -> str:
    """Publish the step's model (once, from the main process of a launch; the others wait until it is there)."""
    uri = model_uri_of(output_uri)

    def publish() -> None:
        for name, content in (extra_files or {}).items():
            (local_model / name).write_text(json.dumps(content, indent=2, ensure_ascii=False), encoding="utf-8")
        storage.publish_dir(local_model, uri, metadata={"stage": stage})

    on_main(publish)
    return uri


def tokenizer_texts(pairs: list[QueryServicePair], scheme: LabelScheme) -> list[str]:
    """Prompts and answers the 'tiny' CPT tokenizer also learns from, so the answer grammar has whole tokens."""
    return [build_prompt(p.query, p.service.to_text(), scheme) + format_answer(p.reasoning or "", p.label or "")
            for p in pairs if p.label]


def cpt_step(config: CPTConfig, corpus_uri: str, output_uri: str, scheme: LabelScheme,
             train_pairs: list[QueryServicePair] | None = None, workdir: str | Path | None = None,
             unlabeled_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Continued pre-training on CORPUS_URI; without one, on the text of the training and unlabelled pairs."""
    if config.init == "tiny" and train_pairs:
        config = config.model_copy(update={"tokenizer_texts": tokenizer_texts(train_pairs, scheme)})
    pair_texts = None
    if not corpus_uri:
        seen = {p.pair_id: p for p in (train_pairs or []) + (unlabeled_pairs or [])}
        pair_texts = [f"{p.query}\n{p.service.to_text()}" for p in seen.values()]
        if not pair_texts:
            raise ValueError("continued pre-training needs a corpus (corpus_uri) or pairs to take text from")
    with _workdir(workdir, "cpt") as local:
        metrics = run_cpt(config, corpus_uri, local, storage.join(output_uri, "checkpoints"), pair_texts)
        return {"model_uri": _publish(local / "model", output_uri, "teacher_cpt"), "metrics": _without_config(metrics)}


def sft_step(config: SFTStageConfig, train_pairs: list[QueryServicePair], scheme: LabelScheme, output_uri: str,
             init_uri: str | None, workdir: str | Path | None = None,
             dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Reasoning SFT from INIT_URI (the CPT model), or from ``config.init`` without one.

    Gold pairs without reasoning first get chains from the reasoning model (``teacher/rationales.py``); the
    records are published as OUTPUT_URI/rationales.jsonl and the counts go into the model's metrics.json. With
    DEV_PAIRS a model that stays at the majority class gives up early (``config.give_up_checks``).
    """
    sft_pairs, rationales, records = from_main(write_rationales, train_pairs, scheme, config.rationales,
                                               init_uri or config.init)
    if rationales["without_reasoning"]:
        report_result(f"rationales: {rationales['kept']} kept, {rationales['rejected']} rejected of "
                      f"{rationales['sent']} gold pairs without reasoning; SFT answers: {rationales['answer_format']}")
    with _workdir(workdir, "sft") as local:
        metrics = run_sft(config, sft_pairs, scheme, local, init_uri, storage.join(output_uri, "checkpoints"),
                          label_only=rationales["answer_format"] == "label_only", dev_pairs=dev_pairs)
        metrics["rationales"] = rationales

        def record() -> None:
            (local / "model" / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
            write_jsonl(storage.join(output_uri, "rationales.jsonl"), records)

        on_main(record)
        return {"model_uri": _publish(local / "model", output_uri, "teacher_sft"), "metrics": _without_config(metrics)}


def sft_gave_up(sft_model_uri: str | None) -> str | None:
    """Why the reward model and DPO are not trained after the SFT model at SFT_MODEL_URI: it gave up (its
    metrics.json ``give_up``, ``SFTStageConfig.give_up_checks``), so the run skips this teacher whatever DPO did to
    it. None for a model that trained its budget or one published without metrics (a model of yours)."""
    uri = storage.join(sft_model_uri, METRICS_FILE) if sft_model_uri else ""
    if not uri or not storage.exists(uri):
        return None
    give_up = json.loads(storage.read_text(uri)).get("give_up") or {}
    if not give_up.get("gave_up_at_step"):
        return None
    return (f"teacher SFT gave up at step {give_up['gave_up_at_step']} (one label answered for every checked dev pair "
            f"at {len(give_up['checks'])} checks)")


def reward_step(config: RewardConfig, train_pairs: list[QueryServicePair], scheme: LabelScheme, output_uri: str,
                workdir: str | Path | None = None, sft_model_uri: str | None = None) -> dict[str, Any]:
    """The reward model's learned heads; SFT_MODEL_URI is their backbone where ``config.init`` asks for it. After an
    SFT model that gave up (``sft_gave_up``) nothing is trained or published: the model URI is empty."""
    skipped = sft_gave_up(sft_model_uri)
    if skipped:
        report_result(f"reward model not trained: {skipped}")
        return {"model_uri": "", "metrics": {"skipped": skipped, "pairs": 0, "held_out_accuracy": {}}}
    with _workdir(workdir, "reward") as local:
        metrics = train_reward_model(train_pairs, scheme, config, local, storage.join(output_uri, "checkpoints"),
                                     sft_model_uri)
        return {"model_uri": _publish(local / "model", output_uri, "reward_model"), "metrics": metrics}


def preference_step(config: PreferenceConfig, sft_uri: str, reward_uri: str, train_pairs: list[QueryServicePair],
                    scheme: LabelScheme, output_uri: str, test_pairs: list[QueryServicePair] | None = None,
                    eval_pairs: int | None = None, workdir: str | Path | None = None,
                    dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Sample, score, pair and train DPO; the scored pairs are published as OUTPUT_URI/pairs.jsonl.

    With gold test pairs, the SFT and the DPO teacher answer the same EVAL_PAIRS of them: macro-F1 and the mean
    of every reward dimension before and after DPO go into the published model's evaluation.json. With DEV_PAIRS the
    DPO teacher also labels the gold dev pairs (``dev``: its per-pair labels and their pair ids), where a run compares
    it with the student trained without it.
    """
    skipped = sft_gave_up(sft_uri)
    if skipped:
        return _publish_without_dpo(skipped, config, sft_uri, train_pairs, scheme, output_uri, test_pairs, eval_pairs,
                                    workdir, dev_pairs)
    reward = load_reward_model(reward_uri, scheme)
    with _workdir(workdir, "dpo") as local:
        metrics = run_preference(config, sft_uri, train_pairs, scheme, reward, local, storage.join(output_uri, "checkpoints"))
        on_main(storage.upload_file, local / "pairs.jsonl", storage.join(output_uri, "pairs.jsonl"))
        extra = {}
        if test_pairs:
            before = teacher_evaluation(sft_uri, train_pairs, test_pairs, scheme, reward, eval_pairs, config.max_new_tokens)
            after = teacher_evaluation(local / "model", train_pairs, test_pairs, scheme, reward, eval_pairs,
                                       config.max_new_tokens, dev_pairs=dev_pairs)
            extra[EVALUATION_FILE] = _evaluation_record(before, after, config.device)
            report_result(f"teacher macro-F1 {after['macro_f1']:.4f} after DPO ({before['macro_f1']:.4f} after SFT, "
                          f"majority class {after['majority_macro_f1']:.4f}, {after['pairs']} test pairs)")
        return {"model_uri": _publish(local / "model", output_uri, "teacher_preference", extra),
                "pairs_uri": storage.join(output_uri, "pairs.jsonl"), "metrics": _without_config(metrics),
                **({"evaluation": extra[EVALUATION_FILE]} if extra else {})}


def _evaluation_record(before: dict[str, Any], after: dict[str, Any], device: str, **extra: Any) -> dict[str, Any]:
    """The preference step's evaluation.json: the teacher's test figures after SFT (BEFORE) and after DPO (AFTER,
    whose dev labels move to ``dev``), EXTRA, and the device it trained on."""
    dev = after.pop("dev", None)
    return {"macro_f1": after["macro_f1"], "majority_macro_f1": after["majority_macro_f1"], "test_pairs": after["pairs"],
            "after_sft": before, "after_dpo": after, **extra, "trained_on": trained_on(device),
            **({"dev": dev} if dev else {})}


def _publish_without_dpo(skipped: str, config: PreferenceConfig, sft_uri: str, train_pairs: list[QueryServicePair],
                         scheme: LabelScheme, output_uri: str, test_pairs: list[QueryServicePair] | None,
                         eval_pairs: int | None, workdir: str | Path | None,
                         dev_pairs: list[QueryServicePair] | None) -> dict[str, Any]:
    """The preference step after an SFT model that gave up: the SFT model published unchanged as the teacher, with
    its evaluation (the same figures after SFT and "after DPO", no rewards) and no preference pairs, so that the
    run's teacher check reads its dev labels and skips it."""
    report_result(f"DPO not trained: {skipped}; the SFT model is the teacher")
    on_main(storage.write_text, storage.join(output_uri, "pairs.jsonl"), "")
    metrics: dict[str, Any] = {"skipped": skipped, "pairs": 0}
    with _workdir(workdir, "dpo") as local:
        shutil.copytree(resolve_model_dir(sft_uri), local / "model", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(storage.MANIFEST_NAME, METRICS_FILE))
        extra = {METRICS_FILE: metrics}
        evaluation = None
        if test_pairs:
            after = teacher_evaluation(local / "model", train_pairs, test_pairs, scheme, None, eval_pairs,
                                       config.max_new_tokens, dev_pairs=dev_pairs)
            evaluation = _evaluation_record(after, after, config.device, dpo_skipped=skipped)
            extra[EVALUATION_FILE] = evaluation
            report_result(f"teacher macro-F1 {after['macro_f1']:.4f} after SFT, no DPO (majority class "
                          f"{after['majority_macro_f1']:.4f}, {after['pairs']} test pairs)")
        return {"model_uri": _publish(local / "model", output_uri, "teacher_preference", extra),
                "pairs_uri": storage.join(output_uri, "pairs.jsonl"), "metrics": metrics,
                **({"evaluation": evaluation} if evaluation else {})}


def trained_on(device: str) -> str:
    """The device type a teacher step with DEVICE ('auto', 'cpu', 'cuda') trained on (recorded with its evaluation)."""
    import torch

    return "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu"


def load_reward_model(uri: str, scheme: LabelScheme) -> RewardModel:
    return RewardModel.load(resolve_model_dir(uri), scheme)


def teacher_evaluation(model_uri: str | Path, train_pairs: list[QueryServicePair], test_pairs: list[QueryServicePair],
                       scheme: LabelScheme, reward: RewardModel | None, eval_pairs: int | None, max_new_tokens: int,
                       voting: EngineConfig | None = None,
                       dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """The teacher's labels on the first EVAL_PAIRS gold test pairs (0: all), greedy or voted (``evaluate_teacher``),
    with the majority-class baseline (generated once, on the main process of a launch). With DEV_PAIRS the same loaded
    model also labels every gold dev pair (``dev``: its figures, per-pair labels and their pair ids; no rewards)."""
    return from_main(_teacher_evaluation, model_uri, train_pairs, test_pairs, scheme, reward, eval_pairs,
                     max_new_tokens, voting, dev_pairs)


def _teacher_evaluation(model_uri: str | Path, train_pairs: list[QueryServicePair], test_pairs: list[QueryServicePair],
                        scheme: LabelScheme, reward: RewardModel | None, eval_pairs: int | None, max_new_tokens: int,
                        voting: EngineConfig | None = None,
                        dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    model, tokenizer = load_causal_lm(str(model_uri), choose_device("auto", "teacher evaluation"))

    def labels(pairs: list[QueryServicePair], rewarded: RewardModel | None) -> dict[str, Any]:
        result = evaluate_teacher(model, tokenizer, pairs, scheme, rewarded, max_new_tokens, voting)
        result["majority_macro_f1"] = majority_baseline(train_pairs, pairs, scheme)
        return result

    result = labels([p for p in test_pairs if p.label][: eval_pairs or None], reward)
    dev_gold = [p for p in dev_pairs or [] if p.label]
    if dev_gold:
        dev = labels(dev_gold, None)
        result["dev"] = {**{key: dev[key] for key in ("pairs", "macro_f1", "qwk", "parse_rate", "majority_macro_f1",
                                                      "predicted")}, "pair_ids": [p.pair_id for p in dev_gold]}
    return result


def training_scalars(metrics: dict[str, Any], *counts: str) -> dict[str, float]:
    """A training step's scalar metrics for KFP: the given counts, the step resumed from, the final loss."""
    scalars = {key: metrics[key] for key in (*counts, "resumed_from_step")}
    if metrics["loss_curve"]:
        scalars["final_loss"] = metrics["loss_curve"][-1]["loss"]
    return scalars


def teacher_evaluation_scalars(evaluation: dict[str, Any] | None) -> dict[str, float]:
    """Flat KFP metrics of the teacher's evaluation.json: macro-F1, majority baseline, parse rate and every reward
    dimension after SFT and after DPO (empty when the teacher was not evaluated)."""
    if not evaluation:
        return {}
    scalars = {"macro_f1": evaluation["macro_f1"], "majority_macro_f1": evaluation["majority_macro_f1"]}
    for stage in ("after_sft", "after_dpo"):
        scalars[f"{stage}_macro_f1"] = evaluation[stage]["macro_f1"]
        scalars[f"{stage}_parse_rate"] = evaluation[stage]["parse_rate"]
        for dimension, value in evaluation[stage].get("reward", {}).items():
            scalars[f"{stage}_reward_{dimension}"] = value
    return {key: float(value) for key, value in scalars.items()}


def read_pairs(uri: str) -> list[QueryServicePair]:
    return read_models(uri, QueryServicePair)


def _without_config(metrics: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metrics.items() if key != "config"}


@contextlib.contextmanager
def _workdir(workdir: str | Path | None, name: str) -> Iterator[Path]:
    """WORKDIR/NAME when given (kept, so a rerun finds its checkpoints), else a temporary directory; in a launch
    every process works in the main process's directory (checkpoints are resumed from one place)."""
    if workdir is not None:
        path = Path(workdir) / name
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        directory = Path(from_main(tempfile.mkdtemp, prefix=f"relevance-distill-{name}-"))
        try:
            yield directory
        finally:
            on_main(shutil.rmtree, directory, ignore_errors=True)
