"""The student trainer: CRSD and its baselines in one readable loop.

Every method sees the same examples in the same order for the same number of steps from the same
initial weights (seeded); only the loss differs. That is what makes the comparison in the report fair.

Output directory:
``best/``             the best model on dev macro-F1 (encoder + classifier + tokenizer + projection head)
``checkpoint-last/``  model + optimizer/scheduler state at the last evaluation (``resume`` continues it)
``history.json``      per-step loss terms, dev metrics per evaluation, the batch-order fingerprint
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from relevance_distill.config import (
    GOLD_AUGMENTED_METHOD,
    StudentTrainConfig,
    concrete_decoding,
)
from relevance_distill.devices import choose_device, cpu_has_native_bf16
from relevance_distill.encoding import ViewEncoder, collate, save_view_settings
from relevance_distill.evaluation.evaluate import (
    BEST_DIR,
    predict_probabilities,
    save_decoding,
)
from relevance_distill.evaluation.metrics import (
    macro_f1,
    ordinal_predictions,
    quadratic_weighted_kappa,
    tune_cutpoints,
)
from relevance_distill.progress import Progress, report_result
from relevance_distill.reporting import best_dev_phrase
from relevance_distill.schemas import Annotation, LabelScheme, QueryServicePair
from relevance_distill.student.crsd import CRSDWeights, crsd_loss, soft_cross_entropy
from relevance_distill.student.model import StudentModel, load_classifier

CHECKPOINT_DIR = "checkpoint-last"
# The history.json evaluation figure each selection decoding picks the best checkpoint by.
SELECTION_KEYS = {"argmax": "dev_macro_f1", "ordinal": "dev_macro_f1_ordinal"}


@dataclass(frozen=True)
class StudentExample:
    pair: QueryServicePair
    label: str
    soft_target: tuple[float, ...]
    reasoning: str
    # The teacher's label distribution (Annotation.label_probs); one-hot gold for gold pairs; None when not recorded.
    teacher_probs: tuple[float, ...] | None = None


# How a chain states its verdict: the built-in generator's sentences ("So the label is weak.", "…判定为弱相关。",
# data/generate.py) and the usual phrasing of teacher-written chains. A test checks every built-in chain matches.
VERDICT_MARKERS = ("the label is", "判定为")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def without_verdict(reasoning: str) -> tuple[str, bool]:
    """The chain without its final verdict sentence (the sentence that names the label), and whether one was
    removed. Only the last sentence is examined: earlier ones hold the checks the reasoning view should keep."""
    lowered = reasoning.lower()
    position = max(lowered.rfind(marker) for marker in VERDICT_MARKERS)
    if position < 0:
        return reasoning, False
    boundaries = [match.end() for match in _SENTENCE_END.finditer(reasoning) if match.end() <= position]
    return reasoning[: boundaries[-1]].strip() if boundaries else "", True


def build_examples(pairs: list[QueryServicePair], scheme: LabelScheme,
                   annotations: dict[str, Annotation] | None = None) -> tuple[list[StudentExample], dict[str, int]]:
    """Training examples from gold labels and reasoning or, for pairs without a gold label, teacher annotations
    (joined by pair_id). A gold pair the teacher annotated keeps its gold label and takes the teacher's reasoning
    only when the teacher's label agrees (a chain arguing for another label would teach the wrong answer).

    Pairs with no label from either source cannot be trained on; they are counted, never silently lost.
    """
    examples, counts = [], {"pairs": len(pairs), "examples": 0, "without_label": 0, "without_reasoning": 0,
                            "without_label_probs": 0}
    for pair in pairs:
        annotation = annotations.get(pair.pair_id) if annotations is not None else None
        if pair.label is not None:
            label, votes = pair.label, {pair.label: 1.0}
            agrees = annotation is not None and scheme.resolve(annotation.label) == scheme.resolve(pair.label)
            reasoning = pair.reasoning or (annotation.reasoning if agrees else "") or ""
        elif annotation is not None:
            label, reasoning = annotation.label, annotation.reasoning or ""
            votes = annotation.votes or {label: 1.0}
        else:
            counts["without_label"] += 1
            continue
        counts["without_reasoning"] += not reasoning
        soft = tuple(float(votes.get(name, 0.0)) for name in scheme.names)
        if pair.label is not None:
            probs: tuple[float, ...] | None = tuple(float(name == scheme.resolve(label)) for name in scheme.names)
        elif annotation is not None and annotation.label_probs:
            probs = tuple(float(annotation.label_probs.get(name, 0.0)) for name in scheme.names)
        else:
            probs = None
            counts["without_label_probs"] += 1
        examples.append(StudentExample(pair, scheme.resolve(label), soft, reasoning, probs))
    counts["examples"] = len(examples)
    return examples, counts


def resolve_device(choice: str, threads: int | None = None) -> torch.device:
    """The device CHOICE names; a step given GPUs that cannot see them fails here (``devices.require_gpus``). CPU
    threads: THREADS, else fitted to the container (``devices.fit_cpu_threads``)."""
    return choose_device(choice, "student training", threads)


def training_precision(amp: bool, device: torch.device) -> str:
    """``bf16_autocast`` where AMP is asked for and bf16 runs natively on DEVICE (``native_bf16``), else ``fp32``:
    what a training run on DEVICE computes in, recorded in its result."""
    return "bf16_autocast" if amp and native_bf16(device) else "fp32"


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively on DEVICE: CUDA, or a CPU where ``devices.cpu_has_native_bf16``. Elsewhere
    CPU autocast only emulates bf16 and is slower than fp32."""
    return device.type == "cuda" or cpu_has_native_bf16()


# Pairs grouped by length come from windows of this many batches (Hugging Face's LengthGroupedSampler uses the same
# multiple): wide enough that most batches hold pairs of one length, narrow enough that each batch is still a
# random draw from its stretch of the shuffled epoch.
LENGTH_GROUP_WINDOW_BATCHES = 50


def batch_order(num_examples: int, batch_size: int, total_steps: int, seed: int,
                lengths: list[int] | None = None) -> list[list[int]]:
    """Indices of each step's batch: a seeded reshuffle per epoch, independent of the method.

    With LENGTH (tokens per example), each window of LENGTH_GROUP_WINDOW_BATCHES batches of the shuffled epoch is
    sorted by length before it is cut into batches, and the epoch's batches are then shuffled: a batch pads to
    about its own length instead of the epoch's longest, and long and short batches still alternate.
    """
    if lengths is not None and len(lengths) != num_examples:
        raise ValueError(f"{len(lengths)} lengths for {num_examples} examples")
    rng = random.Random(seed)
    batches: list[list[int]] = []
    window = batch_size * LENGTH_GROUP_WINDOW_BATCHES
    while len(batches) < total_steps:
        order = list(range(num_examples))
        rng.shuffle(order)
        if lengths is not None:
            order = [i for start in range(0, num_examples, window)
                     for i in sorted(order[start : start + window], key=lengths.__getitem__)]
        epoch = [order[start : start + batch_size] for start in range(0, num_examples - batch_size + 1, batch_size)]
        if lengths is not None:
            rng.shuffle(epoch)
        batches.extend(epoch[: total_steps - len(batches)])
    return batches


def training_batches(config: StudentTrainConfig, standard: list[Any], count: int) -> list[list[int]]:
    """The trainer's first COUNT micro-batches over the examples whose standard views are STANDARD: grouped by the
    standard view's length (which every method shares, so all methods see the same batches) unless
    ``config.group_by_length`` is false."""
    lengths = [len(view.input_ids) for view in standard] if config.group_by_length else None
    return batch_order(len(standard), config.batch_size, count, config.seed, lengths)


# Methods that learn the teacher's distribution (KD_TARGETS) instead of a label: soft CE, whose gradient is
# that of KL(teacher ‖ student).
KD_METHODS = ("vote_kd", "logit_kd")


def method_loss(model: StudentModel, method: str, weights: CRSDWeights, batch: dict[str, torch.Tensor],
                reasoning_batch: dict[str, torch.Tensor] | None, targets: torch.Tensor,
                kd_targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """The loss of one micro-batch for ``method``, with each term (for logging). KD_TARGETS: the teacher's vote
    shares (vote_kd) or label distribution (logit_kd), one-hot gold on gold pairs."""
    logits, h = model(batch)
    if method.startswith("crsd"):
        if reasoning_batch is None:
            raise ValueError(f"method {method!r} needs the reasoning view")
        logits_r, h_r = model(reasoning_batch)
        return crsd_loss(logits.float(), logits_r.float(), model.project(h).float(), model.project(h_r).float(),
                         targets, weights)
    if method in KD_METHODS:
        kd = soft_cross_entropy(logits.float(), kd_targets)
        return {"loss": kd, "kd": kd}
    ce = soft_cross_entropy(logits.float(), targets)
    return {"loss": ce, "ce": ce}


def kd_target_table(examples: list[StudentExample], method: str) -> torch.Tensor:
    """Per example, the distribution a KD method learns (vote shares, or the teacher's label probabilities)."""
    if method != "logit_kd":
        return torch.tensor([e.soft_target for e in examples], dtype=torch.float)
    missing = [e.pair.pair_id for e in examples if e.teacher_probs is None]
    if missing:
        raise ValueError(f"method 'logit_kd' needs the teacher's label distribution, but {len(missing)} teacher-labelled "
                         f"pairs have no label_probs (e.g. {missing[:3]}): annotate them again (annotation records "
                         "label_probs) or choose vote_kd")
    return torch.tensor([e.teacher_probs for e in examples], dtype=torch.float)


def _optimizer(model: torch.nn.Module, config: StudentTrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name else decay).append(parameter)
    kernel = {"fused": True} if config.fused_adamw else {"foreach": True}
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.learning_rate, **kernel)


def _linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_student(config: StudentTrainConfig, scheme: LabelScheme, train_pairs: list[QueryServicePair],
                  dev_pairs: list[QueryServicePair], output_dir: str | Path,
                  annotations: dict[str, Annotation] | None = None,
                  extra_gold_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Train CONFIG.method; EXTRA_GOLD_PAIRS (gold-labelled pairs beyond the gold split) are what
    ``gold_augmented`` adds to the gold pairs, and no other method reads them."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device, config.num_threads)
    teacher_pairs_left_out = 0
    if not config.uses_teacher:
        gold_pairs = [pair for pair in train_pairs if pair.label is not None]
        teacher_pairs_left_out, train_pairs, annotations = len(train_pairs) - len(gold_pairs), gold_pairs, None
    added: list[QueryServicePair] = []
    if config.method == GOLD_AUGMENTED_METHOD:
        known = {pair.pair_id for pair in train_pairs}
        for pair in extra_gold_pairs or []:
            if pair.label is not None and pair.pair_id not in known:
                known.add(pair.pair_id)
                added.append(pair)
        if not added:
            raise ValueError("method 'gold_augmented' trains on the gold pairs plus extra gold-labelled pairs, and none "
                             "were given: pass them (train-student --extra-gold FILE, extra_gold_pairs=…) or train "
                             "'gold_only'")
        train_pairs = train_pairs + added
    examples, counts = build_examples(train_pairs, scheme, annotations)
    counts["teacher_pairs_left_out"] = teacher_pairs_left_out
    counts["extra_gold_pairs"] = len(added)
    # The vocabulary (a tiny init's tokenizer, the CJK characters added to MiniLM's) is built from the full chains, so
    # that methods trained on the same pairs start from the same weights and tokens and share length-grouped batches.
    texts = [t for e in examples for t in (e.pair.query, e.pair.service.to_text(), e.reasoning)]
    if config.cuts_verdict:
        stripped = [without_verdict(e.reasoning) for e in examples]
        examples = [replace(e, reasoning=text) for e, (text, _) in zip(examples, stripped)]
        counts["verdicts_removed"] = sum(removed for _, removed in stripped)
    if len(examples) < config.batch_size:
        raise ValueError(f"{len(examples)} training examples is fewer than one batch of {config.batch_size}")
    dev_examples = [pair for pair in dev_pairs if pair.label is not None]

    classifier, tokenizer = load_classifier(config.init, scheme, texts, config.seed, config.extend_vocabulary,
                                            config.reset_pooler, config.added_token_init)
    torch.manual_seed(config.seed)
    model = StudentModel(classifier, config.projection_dim).to(device)
    encoder = ViewEncoder(tokenizer, config.max_length, config.reasoning_max_length)
    standard, reasoning_views = encoder.encode_pairs([e.pair for e in examples], [e.reasoning for e in examples],
                                                     reasoning_with_service=config.reasoning_view_has_service)
    hard_targets = torch.tensor([scheme.index(e.label) for e in examples])
    soft_targets = torch.tensor([e.soft_target for e in examples], dtype=torch.float)
    kd_targets = kd_target_table(examples, config.method)

    micro_batch = config.batch_size
    steps_per_epoch = len(examples) // (micro_batch * config.gradient_accumulation_steps)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    batches = training_batches(config, standard, total_steps * config.gradient_accumulation_steps)
    optimizer = _optimizer(model, config)
    scheduler = _linear_schedule(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    weights = CRSDWeights(temperature=config.temperature,
                          exclude_same_label_negatives=config.exclude_same_label_negatives, **config.loss_weights())
    precision = training_precision(config.amp, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16_autocast")

    selection_decoding = concrete_decoding(config.selection_decoding, scheme.num_labels)
    selection_key = SELECTION_KEYS[selection_decoding]

    history: dict[str, Any] = {"method": config.method, "total_steps": total_steps, "steps": [], "evals": []}
    start_step, best_f1, evals_without_gain = 0, -1.0, 0
    checkpoint = output / CHECKPOINT_DIR
    if config.resume and (checkpoint / "trainer_state.pt").is_file():
        # weights_only: a checkpoint from shared storage must not be able to run code when it is loaded.
        state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_step, best_f1, evals_without_gain, history = (state["step"], state["best_f1"],
                                                            state["evals_without_gain"], state["history"])
        # A checkpoint written before the field existed was selected on argmax.
        selected_under = state.get("selection_decoding", "argmax")
        if selected_under != selection_decoding:
            raise ValueError(f"{checkpoint} was selecting checkpoints with {selected_under!r} decoding and this run asks "
                             f"for {selection_decoding!r}: set selection_decoding to the checkpoint's, resume=false, or "
                             "remove the checkpoint directory")

    def evaluate(step: int) -> tuple[float, dict[str, Any]]:
        """The selection metric (dev macro-F1 under SELECTION_DECODING) and the ordinal decoder's cut-points tuned on
        the same dev predictions."""
        probabilities = predict_probabilities(model.classifier_model, encoder, dev_examples, device=device)
        gold = np.array([scheme.index(p.label) for p in dev_examples])
        cutpoints = tune_cutpoints(probabilities, gold, scheme.num_labels)
        argmax, ordinal = probabilities.argmax(axis=1), ordinal_predictions(probabilities, cutpoints)
        figures = {"dev_macro_f1": macro_f1(gold, argmax, scheme.num_labels) if len(gold) else 0.0,
                   "dev_macro_f1_ordinal": macro_f1(gold, ordinal, scheme.num_labels) if len(gold) else 0.0,
                   "dev_qwk_argmax": quadratic_weighted_kappa(gold, argmax, scheme.num_labels),
                   "dev_qwk_ordinal": quadratic_weighted_kappa(gold, ordinal, scheme.num_labels)}
        history["evals"].append({"step": step, **figures})
        return figures[selection_key], {"cutpoints": cutpoints, "dev_qwk_argmax": figures["dev_qwk_argmax"],
                                        "dev_qwk_ordinal": figures["dev_qwk_ordinal"]}

    started = time.monotonic()
    step = start_step
    stopped_early = False
    with Progress(f"train {config.method}", total_steps, completed=start_step) as progress:
        for step in range(start_step, total_steps):
            step_started = time.monotonic()
            model.train()
            terms_sum: dict[str, float] = {}
            for micro in range(config.gradient_accumulation_steps):
                indices = batches[step * config.gradient_accumulation_steps + micro]
                batch = {k: v.to(device) for k, v in collate([standard[i] for i in indices], encoder.pad_id).items()}
                targets = (soft_targets[indices] if config.targets == "soft" else hard_targets[indices]).to(device)
                batch_r = None
                if config.uses_reasoning_view:
                    batch_r = {k: v.to(device) for k, v in
                               collate([reasoning_views[i] for i in indices], encoder.pad_id).items()}
                with autocast:
                    terms = method_loss(model, config.method, weights, batch, batch_r, targets,
                                        kd_targets[indices].to(device))
                (terms["loss"] / config.gradient_accumulation_steps).backward()
                for name, value in terms.items():
                    terms_sum[name] = terms_sum.get(name, 0.0) + value.detach().item() / config.gradient_accumulation_steps
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            history["steps"].append({"step": step + 1, "lr": scheduler.get_last_lr()[0], **terms_sum})
            # Optimisation time only (evaluation excluded): what a compute-matched baseline is given.
            history["train_seconds"] = history.get("train_seconds", 0.0) + time.monotonic() - step_started
            progress.update(loss=terms_sum["loss"])

            if (step + 1) % config.eval_every_steps == 0 or step + 1 == total_steps:
                score, decoding = evaluate(step + 1)
                if score > best_f1:
                    best_f1, evals_without_gain = score, 0
                    shutil.rmtree(output / BEST_DIR, ignore_errors=True)
                    model.save(output / BEST_DIR, tokenizer)
                    save_view_settings(output / BEST_DIR, config.max_length, config.reasoning_max_length)
                    save_decoding(output / BEST_DIR, decoding.pop("cutpoints"), decoding)
                else:
                    evals_without_gain += 1
                progress.figures["best_dev_macro_f1"] = best_f1
                checkpoint.mkdir(exist_ok=True)
                model.save(checkpoint, tokenizer)
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "step": step + 1,
                            "best_f1": best_f1, "evals_without_gain": evals_without_gain, "history": history,
                            "selection_decoding": selection_decoding},
                           checkpoint / "trainer_state.pt")
                if config.early_stopping_patience and evals_without_gain >= config.early_stopping_patience:
                    stopped_early = True
                    break

    fingerprint = hashlib.sha256(json.dumps(
        [[examples[i].pair.pair_id for i in batch] for batch in batches[: total_steps * config.gradient_accumulation_steps]]
    ).encode()).hexdigest()
    steps_done = len(history["steps"])
    if stopped_early:
        stop_reason = f"no dev macro-F1 ({selection_decoding}) gain in {config.early_stopping_patience} evaluations"
    elif config.max_steps:
        stop_reason = f"step budget ({config.max_steps} steps)"
    else:
        stop_reason = f"epoch budget ({config.epochs:g} epochs)"
    result = {
        "method": config.method,
        "steps": steps_done,
        "total_steps": total_steps,
        "epochs": round(steps_done * micro_batch * config.gradient_accumulation_steps / max(len(examples), 1), 2),
        "stopped_early": stopped_early,
        "stop_reason": stop_reason,
        "selection_decoding": selection_decoding,
        "best_dev_macro_f1": best_f1,
        "best_step": max(history["evals"], key=lambda e: e[selection_key])["step"] if history["evals"] else None,
        "seconds": round(time.monotonic() - started, 2),
        "train_seconds": round(history.get("train_seconds", 0.0), 2),
        "device": device.type,
        "precision": precision,
        "threads": torch.get_num_threads(),
        "examples": counts,
        "batch_order_sha256": fingerprint,
        "best_model_dir": str(output / BEST_DIR),
        "config": config.model_dump(),
    }
    history["result"] = result
    (output / "history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
    report_result(f"student {config.method}: best dev {best_dev_phrase(result)} at step {result['best_step']} of "
                  f"{steps_done} ({result['epochs']:g} epochs; stopped: {stop_reason})")
    return result
