"""Reasoning SFT: the teacher learns to answer the prompt with <reasoning>…</reasoning><label>…</label>.

Prompt-completion examples with TRL's SFTTrainer, loss on the answer (completion) only.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from relevance_distill.llm.loading import load_causal_lm
from relevance_distill.plugins import DatasetPlugin, load_plugin, require_checks
from relevance_distill.progress import report_result
from relevance_distill.prompts import build_prompt, format_answer
from relevance_distill.schemas import LabelScheme, QueryServicePair
from relevance_distill.teacher.common import (
    TeacherTrainConfig,
    build_tiny_causal_lm,
    length_grouping_arguments,
    setup_training_process,
    train_and_save,
)
from relevance_distill.teacher.evaluate import evaluate_teacher, majority_baseline
from relevance_distill.teacher.rationales import RationaleConfig


class SFTStageConfig(TeacherTrainConfig):
    """Reasoning SFT on (query, service, label, reasoning) records."""

    dataset_plugin: str = Field(
        default="none", description="The dataset plugin (`relevance_distill/plugins.py`) whose rules the SFT data may "
        "use: 'none' (plain text), 'builtin' (the built-in world) or your own 'package.module:attribute'. It supplies "
        "`counterfactuals`, entity groups for `augment_copies` and how chains' numbers are read and shifted.")
    rationales: RationaleConfig = Field(
        default_factory=RationaleConfig, description="Chains for gold pairs without reasoning (rejection sampling).")
    augment_copies: int = Field(
        default=0, ge=0, description="Extra copies of every example with the entities of `entity_swaps` renamed "
        "consistently and every number shifted by one offset (`number_shift`), in prompt and answer alike: the label "
        "and the chain stay true, but a model can no longer recall a query's district or price from training and "
        "has to read them from the input. 0: no augmentation.")
    entity_swaps: list[list[list[str]]] = Field(
        default_factory=list, description="Groups of interchangeable entities; each entity is the list of its surface "
        "forms in a fixed order (e.g. [['Chaoyang', '朝阳'], ['Haidian', '海淀']]). An augmented copy permutes each "
        "group's entities and writes every form as the same form of the entity it maps to. The dataset plugin's own "
        "groups are added to these.")
    number_shift: int = Field(
        default=0, ge=0, description="An augmented copy adds one offset drawn from [-N, N] to every number in prompt "
        "and answer (kept at 1 or more), which keeps every comparison between them: a price within a ceiling stays "
        "within it; steps that restate numbers in another form are written again as the dataset plugin says. 0: "
        "numbers unchanged.")
    counterfactuals: list[str] = Field(
        default_factory=list, description="Checks to add counterfactual pairs for, of the dataset plugin's "
        "`counterfactual_checks` (the built-in world's: district, feature, price): for every gold pair whose query "
        "states such a requirement, the same pair with the item edited so that only that check flips, labelled and "
        "reasoned again by the dataset's rules. Augmented copies keep each pair's outcomes, so without these a teacher "
        "can recall a training pair's outcomes instead of comparing what it writes. These pairs are extra labelled "
        "data: a fair comparison gives the gold-only student the same pairs (`gold_augmented`). Empty: none.")
    group_by_length: bool = Field(
        default=False, description="Batch examples of similar token length (transformers' LengthGroupedSampler: "
        "mega-batches of 50 batches sorted by length, longest first), so that a batch pads to about its own length "
        "rather than its longest example's; false: the Trainer's plain shuffle. Faster (`benchmarks/"
        "teacher_sft_throughput.py`), but the demo teacher learnt less with it on all three seeds tried (docs/teacher.md): "
        "measure it on your data before turning it on.")
    give_up_checks: int = Field(
        default=0, ge=0, description="Stop SFT early when this many dev checks in a row (one every "
        "`give_up_check_every_steps`) find the model answering one label (or none) for every checked gold dev pair: "
        "a teacher that ignores its input, which the run then skips (evaluation/teacher_check.py) without training its "
        "reward model or DPO. A model that answers several labels, however badly, is never stopped (a teacher can "
        "learn late). Needs the dev pairs (the pipeline passes them); 0 never checks.")
    give_up_check_every_steps: int = Field(default=250, ge=1, description="Steps between two give-up checks.")
    give_up_check_pairs: int = Field(
        default=200, ge=10, description="Gold dev pairs each give-up check labels (greedy, answers as long as "
        "`rationales.max_new_tokens`).")
    oversample_pattern: str = Field(
        default="", description="Regular expression (Python `re`) searched in each answer: an example whose answer "
        "matches gets `oversample_copies` augmented copies more than the others, so a rare reasoning step is seen about "
        "as often as its common counterpart. Empty: no oversampling.")
    oversample_copies: int = Field(
        default=0, ge=0, description="Extra augmented copies of every example matching `oversample_pattern`.")

    @model_validator(mode="after")
    def _plugin_offers_the_checks(self) -> SFTStageConfig:
        require_checks(load_plugin(self.dataset_plugin), self.counterfactuals)
        return self

    @field_validator("oversample_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"oversample_pattern {pattern!r} is not a regular expression: {error}") from None
        return pattern

    @model_validator(mode="after")
    def _oversampling_is_complete(self) -> SFTStageConfig:
        if bool(self.oversample_pattern) != bool(self.oversample_copies):
            raise ValueError(f"oversample_pattern ({self.oversample_pattern!r}) and oversample_copies "
                             f"({self.oversample_copies}) go together: set both or neither")
        return self


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


class ExampleAugmenter:
    """Consistent renaming of interchangeable entities and one shift of every number per augmented copy
    (``SFTStageConfig.augment_copies``)."""

    def __init__(self, entity_swaps: list[list[list[str]]], number_shift: int, seed: int, plugin: DatasetPlugin):
        for group in entity_swaps:
            widths = {len(entity) for entity in group}
            if len(group) < 2 or len(widths) != 1:
                raise ValueError(f"entity_swaps group {group!r} needs at least two entities with the same number of forms")
        self.groups = entity_swaps
        self.plugin = plugin
        self.number_shift = number_shift
        self.rng = random.Random(seed)
        forms = sorted({form for group in entity_swaps for entity in group for form in entity}, key=len, reverse=True)
        self.entity_pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def mapping(self) -> tuple[dict[str, str], int]:
        """One copy's renaming (form -> form) and number offset."""
        renaming = {}
        for group in self.groups:
            images = list(range(len(group)))
            self.rng.shuffle(images)
            for source, image in enumerate(images):
                renaming.update(zip(group[source], group[image]))
        return renaming, self.rng.randint(-self.number_shift, self.number_shift)

    def apply(self, texts: list[str], renaming: dict[str, str], offset: int) -> list[str]:
        if offset:
            smallest = min((n for text in texts for n in self.plugin.numbers(text)), default=1)
            offset = max(offset, 1 - smallest)
        out = []
        for text in texts:
            if self.entity_pattern is not None:
                text = self.entity_pattern.sub(lambda m: renaming[m.group(0)], text)
            if offset:
                text = self.plugin.shift_numbers(text, offset)
            out.append(text)
        return out

    def augment(self, examples: list[dict[str, str]], copies: int, extra: list[int] | None = None) -> list[dict[str, str]]:
        """EXAMPLES followed by COPIES augmented copies of each, plus EXTRA[i] more of example i (prompt and completion
        renamed together)."""
        augmented = list(examples)
        extra = extra or [0] * len(examples)
        for round_ in range(copies + max(extra, default=0)):
            for example, more in zip(examples, extra):
                if round_ >= copies + more:
                    continue
                renaming, offset = self.mapping()
                prompt, completion = self.apply([example["prompt"], example["completion"]], renaming, offset)
                augmented.append({"prompt": prompt, "completion": completion})
        return augmented


def oversampled(config: SFTStageConfig, examples: list[dict[str, str]]) -> list[int]:
    """Extra augmented copies per example: ``oversample_copies`` where the answer matches ``oversample_pattern``."""
    if not config.oversample_pattern:
        return [0] * len(examples)
    pattern = re.compile(config.oversample_pattern)
    return [config.oversample_copies if pattern.search(e["completion"]) else 0 for e in examples]


def augmented_examples(config: SFTStageConfig, examples: list[dict[str, str]]) -> list[dict[str, str]]:
    extra = oversampled(config, examples)
    if not config.augment_copies and not any(extra):
        return examples
    plugin = load_plugin(config.dataset_plugin)
    groups = [*config.entity_swaps, *(group for group in plugin.entity_groups() if group not in config.entity_swaps)]
    return ExampleAugmenter(groups, config.number_shift, config.seed, plugin).augment(examples, config.augment_copies,
                                                                                     extra)


def check_record(step: int, result: dict[str, Any]) -> dict[str, Any]:
    """One give-up check: dev macro-F1, how many distinct labels the model answered (unparsed answers claim none),
    and whether it collapsed (at most one)."""
    distinct = len(set(result["predicted"]) - {-1})
    return {"step": step, "dev_macro_f1": result["macro_f1"], "distinct_labels": distinct, "collapsed": distinct <= 1}


def give_up_callback(config: SFTStageConfig, tokenizer: Any, train_pairs: list[QueryServicePair],
                     dev_pairs: list[QueryServicePair], scheme: LabelScheme, record: dict[str, Any]) -> Any:
    """A TrainerCallback that labels the first ``give_up_check_pairs`` gold DEV_PAIRS every
    ``give_up_check_every_steps`` and stops training after ``give_up_checks`` checks in a row that found the model
    collapsed: one label (or none) answered for every pair. RECORD collects the checks, with the majority class's
    macro-F1 on the same pairs for reference, and the step it gave up at. Every worker of a launch checks the same
    pairs greedily, so all reach the same decision."""
    from transformers import TrainerCallback

    pairs = [pair for pair in dev_pairs if pair.label][: config.give_up_check_pairs]
    majority = majority_baseline(train_pairs, pairs, scheme)
    record.update({"checks": [], "pairs": len(pairs), "majority_macro_f1": majority, "gave_up_at_step": None})

    class GiveUp(TrainerCallback):
        streak = 0

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
            if state.global_step % config.give_up_check_every_steps:
                return control
            training = model.training
            result = evaluate_teacher(model, tokenizer, pairs, scheme, None, config.rationales.max_new_tokens)
            model.train(training)
            check = check_record(state.global_step, result)
            record["checks"].append(check)
            self.streak = self.streak + 1 if check["collapsed"] else 0
            if self.streak >= config.give_up_checks:
                record["gave_up_at_step"] = state.global_step
                control.should_training_stop = True
            return control

    return GiveUp()


def run_sft(config: SFTStageConfig, pairs: list[QueryServicePair], scheme: LabelScheme, output_dir: str | Path,
            init_uri: str | None = None, checkpoint_uri: str | None = None, label_only: bool = False,
            dev_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """Train from ``init_uri`` (the CPT model) or ``config.init``; saves OUTPUT/model. LABEL_ONLY: the answers are
    the labels alone (``teacher/rationales.py`` decides). With DEV_PAIRS and ``give_up_checks`` a model that keeps
    answering one label stops early (``give_up_callback``; metrics ``give_up``)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    setup_training_process()
    output = Path(output_dir)
    moved = load_plugin(config.dataset_plugin).counterfactual_pairs(pairs, config.seed, config.counterfactuals)
    pairs = [*pairs, *moved]
    source = init_uri or config.init
    if source == "tiny":
        plain = augmented_examples(config, sft_examples(pairs, scheme, None, label_only))
        model, tokenizer = build_tiny_causal_lm([e["prompt"] + e["completion"] for e in plain], config)
    else:
        model, tokenizer = load_causal_lm(source)
    originals = sft_examples(pairs, scheme, tokenizer, label_only)
    examples = augmented_examples(config, originals)
    grouping = length_grouping_arguments() if config.group_by_length else {}
    args = SFTConfig(**config.training_arguments(output / "checkpoints"), **grouping, max_length=config.max_length,
                     completion_only_loss=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer,
                         peft_config=config.peft_config())
    give_up: dict[str, Any] = {}
    if config.give_up_checks and dev_pairs:
        trainer.add_callback(give_up_callback(config, tokenizer, pairs, dev_pairs, scheme, give_up))
    metrics = train_and_save(trainer, tokenizer, output, {"step": "sft", "examples": len(examples),
                                                     "counterfactual_pairs": len(moved),
                                                     "oversampled_examples": sum(map(bool, oversampled(config, originals))),
                                                     "answer_format": "label_only" if label_only else "reasoning",
                                                     "config": config.model_dump(),
                                                     **({"give_up": give_up} if give_up else {})}, checkpoint_uri)
    if give_up.get("gave_up_at_step"):
        report_result(f"teacher sft gave up at step {give_up['gave_up_at_step']}: it answered one label (or none) for "
                      f"all {give_up['pairs']} checked dev pairs at {config.give_up_checks} checks in a row (dev macro-F1 "
                      f"{give_up['checks'][-1]['dev_macro_f1']:.4f}, majority class {give_up['majority_macro_f1']:.4f})")
    return metrics
