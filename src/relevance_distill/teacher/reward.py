"""Multi-dimensional reward model for the teacher's answers; every dimension in [0, 1], reported separately.

Rule dimensions:
* ``format``: 1 when the answer parses (prompts.parse_answer) with reasoning length within bounds, 0.5 when
  the length is out of bounds, 0.1 per answer tag present (at most 0.4) when it does not parse;
* ``correctness``: 1 − |predicted grade index − gold index| / (K − 1), where a gold label exists;
* ``faithfulness`` (rule part): content-token precision of the reasoning against query + service text;
* ``conciseness``: 1 up to a character budget, then a linear penalty.

Learned dimensions share one backbone (a BERT sequence-classification model, one scalar head per dimension)
trained pairwise with a Bradley–Terry loss through transformers' Trainer:
* ``faithfulness``: grounded gold reasoning over reasoning taken from another pair (same label);
* ``consistency``: the gold reasoning with its own label over the same reasoning with another label.

``faithfulness`` is the mean of its rule and learned parts. The total is the weighted mean of the available
dimensions (``correctness`` only where gold exists).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.devices import choose_device
from relevance_distill.distributed import ddp_arguments, from_main, on_main, world_size
from relevance_distill.llm.loading import load_tokenizer, resolve_model_dir
from relevance_distill.plugins import load_plugin
from relevance_distill.progress import report_result
from relevance_distill.prompts import (
    AnswerParseError,
    format_answer,
    parse_answer,
    user_message,
)
from relevance_distill.schemas import LabelScheme, QueryServicePair, StrictModel
from relevance_distill.teacher.common import (
    loss_curve,
    setup_training_process,
    train_resumable,
)

# RewardConfig.init naming the teacher's SFT model, whose URI the step is given (it is not known when configuring).
FROM_SFT = "sft"
DIMENSIONS = ("format", "correctness", "faithfulness", "consistency", "conciseness")
LEARNED_HEADS = ("faithfulness", "consistency")
# Which learned heads had training pairs, saved next to the backbone.
HEADS_FILE = "trained_heads.json"
_TOKEN = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+", re.I)
# Words of the answer template and verdicts: they carry no facts, so they never count against faithfulness.
_STOP = set("""the a an and or of to in is are for with that this so but not be it its as by on at from asks
query service label user wants kind right one requirement requirements every met offered offers offer
several same different area business cannot serve need relevant irrelevant weak exact asked location price
costs under too expensive vs 查 询 想 找 该 商 户 是 的 要 求 满 足 不 所 有 都 判 定 为 相 关 完 全 弱 类 别 同 一 大
提 供 但 服 务 型 正 确 有 项 多 因 此 无 法 需 位 置 在 价 格 以 内 人 均 元 超 出 未 用 逐 比 较""".split())


class RewardConfig(StrictModel):
    """Reward model: weights, rule bounds and the learned heads' training."""

    weights: dict[str, float] = Field(
        default_factory=lambda: {"format": 1.0, "correctness": 2.0, "faithfulness": 1.0, "consistency": 1.0, "conciseness": 0.5},
        description="Weight of each dimension in the total (normalised over the dimensions available).")
    min_reasoning_chars: int = Field(default=20, ge=1, description="Shorter reasoning fails the format check.")
    max_reasoning_chars: int = Field(default=1200, ge=1, description="Longer reasoning fails the format check.")
    concise_budget_chars: int = Field(default=400, ge=1, description="Reasoning up to this length is not penalised.")
    max_steps: int = Field(default=150, ge=1, description="Training steps of the learned heads.")
    batch_size: int = Field(default=16, ge=1, description="Preference pairs per step.")
    learning_rate: float = Field(default=1e-3, gt=0, description="Learning rate of the learned heads' backbone.")
    max_length: int = Field(default=256, ge=32, description="Token budget of (prompt, answer) for the backbone.")
    save_steps: int = Field(default=50, ge=1, description="Checkpoint interval; a rerun resumes from the last checkpoint.")
    init: str = Field(
        default="tiny",
        description=f"'tiny' (random BERT built here), '{FROM_SFT}' (the teacher's SFT model, scoring from its last "
        "token: it already reads chains and labels, so the heads learn in a few hundred steps), or a saved model's "
        "directory or s3:// prefix (a BERT-style encoder or a causal LM).")
    seed: int = Field(default=13, description="Seed of pair construction and training.")
    dataset_plugin: str = Field(
        default="none", description="The dataset plugin (`relevance_distill/plugins.py`) whose `stated_text` turns "
        "chain steps that restate facts in another form (the built-in world's digit-by-digit price steps) back into "
        "those facts before faithfulness compares them with the input: 'none', 'builtin' or 'package.module:attribute'.")


def _content_tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text) if t.lower() not in _STOP]


def rule_scores(query: str, service_text: str, answer: str, scheme: LabelScheme, config: RewardConfig,
                gold_label: str | None = None) -> dict[str, float]:
    """The rule-based dimensions (and the parsed label) of one answer."""
    try:
        parsed = parse_answer(answer, scheme)
    except AnswerParseError:
        # Partial structure earns partial format credit (0.1 per tag present, at most 0.4), so that preference
        # pairs can still be formed from an early teacher whose answers do not parse yet.
        present = sum(tag in answer for tag in ("<reasoning>", "</reasoning>", "<label>", "</label>"))
        scores = {"format": 0.1 * present, "faithfulness_rule": 0.0, "conciseness": 0.0}
        if gold_label is not None:
            scores["correctness"] = 0.0
        return scores
    length = len(parsed.reasoning)
    scores = {"format": 1.0 if config.min_reasoning_chars <= length <= config.max_reasoning_chars else 0.5}
    if gold_label is not None:
        distance = abs(scheme.index(parsed.label) - scheme.index(gold_label))
        scores["correctness"] = 1.0 - distance / (scheme.num_labels - 1)
    reasoning_tokens = _content_tokens(load_plugin(config.dataset_plugin).stated_text(parsed.reasoning))
    source = set(_content_tokens(f"{query} {service_text}"))
    scores["faithfulness_rule"] = (sum(t in source for t in reasoning_tokens) / len(reasoning_tokens)) if reasoning_tokens else 0.0
    excess = max(0, length - config.concise_budget_chars)
    scores["conciseness"] = max(0.0, 1.0 - excess / config.concise_budget_chars)
    return scores


def preference_pairs(pairs: list[QueryServicePair], scheme: LabelScheme, seed: int) -> list[dict[str, Any]]:
    """Bradley–Terry training pairs for the learned heads, derived from gold data.

    A gold pair without a reasoning chain (real data before rationales) still teaches consistency, with label-only
    answers; faithfulness needs reasoning, so without any chain that head is not trained (``trained_heads``).
    """
    rng = random.Random(seed)
    labelled = [p for p in pairs if p.label]
    by_label: dict[str, list[QueryServicePair]] = {}
    for pair in labelled:
        if pair.reasoning:
            by_label.setdefault(pair.label, []).append(pair)
    records = []
    for pair in labelled:
        context = user_message(pair.query, pair.service.to_text())
        reasoning = pair.reasoning or ""
        chosen = format_answer(reasoning, pair.label)
        others = [p for p in by_label.get(pair.label, []) if p.query != pair.query] if reasoning else []
        if others:
            donor = rng.choice(others)
            records.append({"context": context, "chosen": chosen,
                            "rejected": format_answer(donor.reasoning, pair.label), "head": LEARNED_HEADS.index("faithfulness")})
        wrong = rng.choice([name for name in scheme.names if name != pair.label])
        records.append({"context": context, "chosen": chosen, "rejected": format_answer(reasoning, wrong),
                        "head": LEARNED_HEADS.index("consistency")})
    rng.shuffle(records)
    return records


def trained_heads(records: list[dict[str, Any]]) -> list[str]:
    """The learned heads that have training pairs (the others are never used for scoring)."""
    return [head for index, head in enumerate(LEARNED_HEADS) if any(r["head"] == index for r in records)]


class RewardModel:
    """Scores answers on every dimension; learned heads load from a directory written by ``train_reward_model``."""

    def __init__(self, scheme: LabelScheme, config: RewardConfig, backbone: Any = None, tokenizer: Any = None,
                 heads: list[str] | None = None):
        self.scheme, self.config, self.backbone, self.tokenizer = scheme, config, backbone, tokenizer
        self.heads = list(LEARNED_HEADS if heads is None else heads)

    @classmethod
    def load(cls, directory: str | Path, scheme: LabelScheme) -> RewardModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        directory = Path(directory)
        config = RewardConfig.model_validate_json((directory / "reward_config.json").read_text(encoding="utf-8"))
        backbone = AutoModelForSequenceClassification.from_pretrained(directory).eval()
        heads_file = directory / HEADS_FILE
        heads = json.loads(heads_file.read_text(encoding="utf-8")) if heads_file.is_file() else None
        return cls(scheme, config, backbone, AutoTokenizer.from_pretrained(directory), heads)

    def learned_scores(self, contexts: list[str], answers: list[str]) -> list[dict[str, float]]:
        import torch

        if self.backbone is None:
            return [{} for _ in answers]
        results = []
        with torch.inference_mode():
            for start in range(0, len(answers), 32):
                batch = self.tokenizer(contexts[start : start + 32], answers[start : start + 32], truncation=True,
                                       max_length=self.config.max_length, padding=True, return_tensors="pt")
                logits = self.backbone(**batch).logits
                for row in torch.sigmoid(logits).tolist():
                    results.append({head: value for head, value in zip(LEARNED_HEADS, row) if head in self.heads})
        return results

    def score(self, items: list[dict[str, Any]]) -> list[dict[str, float]]:
        """``items``: dicts with query, service_text, answer and optionally gold_label → per-dimension scores + total."""
        contexts = [user_message(item["query"], item["service_text"]) for item in items]
        learned = self.learned_scores(contexts, [item["answer"] for item in items])
        results = []
        for item, heads in zip(items, learned):
            scores = rule_scores(item["query"], item["service_text"], item["answer"], self.scheme, self.config,
                                 item.get("gold_label"))
            rule_faithfulness = scores.pop("faithfulness_rule")
            parsed_ok = scores["format"] >= 0.5  # 0.5 and 1 mean it parsed; partial-structure credit stays below
            learned_faithfulness = "faithfulness" in heads and parsed_ok
            scores["faithfulness"] = (rule_faithfulness + heads["faithfulness"]) / 2 if learned_faithfulness else rule_faithfulness
            if "consistency" in heads:
                scores["consistency"] = heads["consistency"] if parsed_ok else 0.0
            weights = {name: self.config.weights.get(name, 0.0) for name in scores}
            total_weight = sum(weights.values()) or 1.0
            scores["total"] = sum(scores[name] * weights[name] for name in weights) / total_weight
            results.append(scores)
        return results


def pretrained_backbone(init: str, seed: int) -> tuple[Any, Any]:
    """The learned heads on a saved model (a BERT-style encoder, or a causal LM such as the teacher's SFT model, which
    then scores from its last token), one scalar head per learned dimension."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from relevance_distill.hf import quiet_transformers

    quiet_transformers()  # the new heads' "newly initialized" warning is expected, not news
    directory = resolve_model_dir(init)
    tokenizer = load_tokenizer(directory)
    torch.manual_seed(seed)  # the new heads are drawn here, before the Trainer seeds anything
    backbone = AutoModelForSequenceClassification.from_pretrained(directory, num_labels=len(LEARNED_HEADS),
                                                                  ignore_mismatched_sizes=True)
    # A decoder finds its last token by the pad id, which a causal LM's config often lacks.
    backbone.config.pad_token_id = tokenizer.pad_token_id
    return backbone, tokenizer


def train_reward_model(pairs: list[QueryServicePair], scheme: LabelScheme, config: RewardConfig,
                       output_dir: str | Path, checkpoint_uri: str | None = None,
                       sft_model_uri: str | None = None) -> dict[str, Any]:
    """Train the learned heads pairwise (Bradley–Terry) with transformers' Trainer; save to OUTPUT/model.

    SFT_MODEL_URI is the backbone when ``config.init`` is ``FROM_SFT``."""
    import torch
    from datasets import Dataset
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        Trainer,
        TrainingArguments,
    )

    from relevance_distill.hf import train_wordpiece_tokenizer

    if config.init == FROM_SFT and not sft_model_uri:
        raise ValueError(f"reward init {FROM_SFT!r} needs the teacher's SFT model URI (the reward_model component's "
                         "sft_model_uri); or set init to 'tiny' or a saved model's directory or s3:// prefix")
    setup_training_process()
    output = Path(output_dir)
    records = preference_pairs(pairs, scheme, config.seed)
    if len(records) < 2:
        raise ValueError(f"the reward model needs at least 2 labelled training pairs, got {len(records)} preference pairs")
    heads = trained_heads(records)
    held_out = max(1, len(records) // 10)
    train_records, eval_records = records[held_out:], records[:held_out]
    if config.init == "tiny":
        tokenizer = train_wordpiece_tokenizer([r[k] for r in records for k in ("context", "chosen", "rejected")], 3000)
        torch.manual_seed(config.seed)
        backbone = BertForSequenceClassification(BertConfig(
            vocab_size=len(tokenizer), hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
            num_labels=len(LEARNED_HEADS), problem_type="regression"))
    else:
        backbone, tokenizer = pretrained_backbone(sft_model_uri if config.init == FROM_SFT else config.init,
                                                  config.seed)

    def encode(batch: dict[str, list]) -> dict[str, list]:
        chosen = tokenizer(batch["context"], batch["chosen"], truncation=True, max_length=config.max_length)
        rejected = tokenizer(batch["context"], batch["rejected"], truncation=True, max_length=config.max_length)
        return {"chosen_ids": chosen["input_ids"], "rejected_ids": rejected["input_ids"], "head": batch["head"]}

    dataset = Dataset.from_list(train_records).map(encode, batched=True, remove_columns=["context", "chosen", "rejected"])

    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        sequences = [r["chosen_ids"] for r in rows] + [r["rejected_ids"] for r in rows]
        padded = tokenizer.pad({"input_ids": sequences}, return_tensors="pt")
        return {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"],
                "head": torch.tensor([r["head"] for r in rows])}

    class BradleyTerryTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            head = inputs.pop("head")
            rewards = model(**inputs).logits
            half = len(head)
            picked = rewards.gather(1, torch.cat([head, head]).unsqueeze(1)).squeeze(1)
            loss = -torch.nn.functional.logsigmoid(picked[:half] - picked[half:]).mean()
            return (loss, rewards) if return_outputs else loss

    args = TrainingArguments(output_dir=str(output / "checkpoints"), max_steps=config.max_steps,
                             per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
                             logging_steps=max(1, config.max_steps // 10), save_steps=config.save_steps,
                             save_total_limit=1, report_to=[],
                             remove_unused_columns=False, seed=config.seed, disable_tqdm=True,
                             use_cpu=choose_device("auto", "reward model training").type == "cpu", **ddp_arguments())
    trainer = BradleyTerryTrainer(model=backbone, args=args, train_dataset=dataset, data_collator=collate)
    resumed_from = train_resumable(trainer, output / "checkpoints", "reward model", checkpoint_uri)
    model_dir = output / "model"
    reward = RewardModel(scheme, config, backbone.eval(), tokenizer, heads)
    accuracy = from_main(held_out_accuracy, reward, eval_records)
    metrics = {"step": "reward_model", "pairs": len(records), "held_out_pairs": len(eval_records),
               "resumed_from_step": resumed_from, "world_size": world_size(), "held_out_accuracy": accuracy,
               "trained_heads": heads, "loss_curve": loss_curve(trainer.state.log_history)}

    def save() -> None:
        backbone.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
        (model_dir / "reward_config.json").write_text(config.model_dump_json(indent=2), encoding="utf-8")
        (model_dir / HEADS_FILE).write_text(json.dumps(heads), encoding="utf-8")
        for path in (output / "metrics.json", model_dir / "metrics.json"):
            path.write_text(json.dumps(metrics, indent=2), encoding="utf-8")

    on_main(save)
    report_result("reward model: held-out pair accuracy " + ", ".join(f"{head} {value:.3f}" for head, value in accuracy.items()))
    return metrics


def held_out_accuracy(reward: RewardModel, records: list[dict[str, Any]]) -> dict[str, float]:
    """Share of held-out pairs whose head scores the chosen answer above the rejected one, per head that has any."""
    hits: dict[str, list[bool]] = {head: [] for head in LEARNED_HEADS}
    chosen = reward.learned_scores([r["context"] for r in records], [r["chosen"] for r in records])
    rejected = reward.learned_scores([r["context"] for r in records], [r["rejected"] for r in records])
    for record, good, bad in zip(records, chosen, rejected):
        head = LEARNED_HEADS[record["head"]]
        hits[head].append(good[head] > bad[head])
    # A head without held-out pairs (not trained: no reasoning chains) has no accuracy, rather than NaN.
    return {head: sum(values) / len(values) for head, values in hits.items() if values}
