"""Train CRSD and its baselines under one budget on one training set.

Used by the CLI (``train-student``) and the ``train_student`` component, so both assemble the training data
with the same rule and train with the same settings. Evaluation of the trained methods is
``evaluation.evaluate.evaluate_trained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from relevance_distill.config import (
    COMPUTE_MATCHED_METHODS,
    ConfigError,
    StudentTrainConfig,
)
from relevance_distill.data.readers import read_models
from relevance_distill.evaluation.evaluate import TRAINING_RECORD
from relevance_distill.progress import report_result
from relevance_distill.reporting import best_dev_phrase
from relevance_distill.schemas import Annotation, LabelScheme, QueryServicePair


def load_annotations(uri: str | None) -> dict[str, Annotation] | None:
    if not uri:
        return None
    return {annotation.pair_id: annotation for annotation in read_models(uri, Annotation)}


def training_pairs(gold_pairs: list[QueryServicePair], annotated_pairs: list[QueryServicePair],
                   annotations: dict[str, Annotation] | None) -> tuple[list[QueryServicePair], dict[str, int]]:
    """The student's training set: every gold pair plus the ``annotated_pairs`` the teacher labelled.

    The label rule lives in the trainer (``build_examples``): a gold label wins over the teacher's, and a gold
    pair the teacher also annotated (data without search logs: the teacher annotates the training pairs) takes
    the teacher's reasoning only where the teacher agrees with the gold label. Annotated pairs without an
    annotation (quarantined by the teacher) are left out and counted.
    """
    if annotated_pairs and annotations is None:
        raise ValueError("annotated pairs need the teacher's annotations (annotations_uri / --annotations)")
    annotations = annotations or {}
    gold_ids = {pair.pair_id for pair in gold_pairs}
    added = [pair for pair in annotated_pairs if pair.pair_id in annotations and pair.pair_id not in gold_ids]
    counts = {"gold_pairs": len(gold_pairs), "annotated_pairs_in": len(annotated_pairs),
              "annotated_pairs_added": len(added),
              "annotated_pairs_without_annotation": sum(pair.pair_id not in annotations for pair in annotated_pairs),
              "gold_pairs_annotated_by_teacher": sum(pair.pair_id in annotations for pair in gold_pairs),
              "gold_pairs_teacher_agrees": sum(pair.pair_id in annotations and annotations[pair.pair_id].label == pair.label
                                               for pair in gold_pairs)}
    return gold_pairs + added, counts


def training_order(methods: list[str]) -> list[str]:
    """METHODS with each compute-matched method after the runs it is matched to (which must be among METHODS)."""
    for method, references in COMPUTE_MATCHED_METHODS.items():
        missing = [reference for reference in references if method in methods and reference not in methods]
        if missing:
            raise ConfigError(f"method {method!r} is matched to the training time of {list(references)}; add {missing} "
                              f"to the methods (got {methods})")
    return ([method for method in methods if method not in COMPUTE_MATCHED_METHODS]
            + [method for method in methods if method in COMPUTE_MATCHED_METHODS])


def compute_matched_steps(reference: dict[str, Any], baseline: dict[str, Any]) -> int:
    """Steps of BASELINE's method that REFERENCE's training time buys (optimisation time only, measured in the
    same process on the same batches)."""
    baseline_seconds_per_step = baseline["train_seconds"] / max(baseline["steps"], 1)
    return max(1, round(reference["train_seconds"] / baseline_seconds_per_step))


def with_matched_budget(config: StudentTrainConfig, trained: dict[str, Any]) -> StudentTrainConfig:
    """CONFIG with a compute-matched method's step budget taken from the TRAINED results of its references
    (method -> training result); other methods' configs are returned as they are."""
    if config.method not in COMPUTE_MATCHED_METHODS:
        return config
    references = [trained[reference] for reference in COMPUTE_MATCHED_METHODS[config.method]]
    return config.model_copy(update={"max_steps": compute_matched_steps(*references)})


def train_methods(methods: list[str], config: StudentTrainConfig, scheme: LabelScheme,
                  train_pairs: list[QueryServicePair], dev_pairs: list[QueryServicePair], output_dir: str | Path,
                  annotations: dict[str, Annotation] | None = None,
                  extra_gold_pairs: list[QueryServicePair] | None = None) -> dict[str, Any]:
    """One run per method with everything else equal; returns method -> training result (also written to
    ``OUTPUT/training.json``, which evaluation reads to find the methods). EXTRA_GOLD_PAIRS go to gold_augmented."""
    from relevance_distill.student.train import train_student

    results: dict[str, Any] = {}
    for method in training_order(methods):
        method_config = config.model_copy(update={"method": method})
        StudentTrainConfig.model_validate(method_config.model_dump())  # a bad method name fails here, by name
        results[method] = train_student(with_matched_budget(method_config, results), scheme, train_pairs, dev_pairs,
                                        Path(output_dir) / method, annotations, extra_gold_pairs)
    results = {method: results[method] for method in methods}
    (Path(output_dir) / TRAINING_RECORD).write_text(json.dumps(results, indent=2), encoding="utf-8")
    report_result("best dev " + ", ".join(f"{method} {best_dev_phrase(result)}" for method, result in results.items()))
    return results


def train_from_uris(train_uri: str, dev_uri: str, output_dir: str | Path, methods: list[str], config: StudentTrainConfig,
                    scheme: LabelScheme, annotations_uri: str = "", annotated_pairs_uri: str = "",
                    extra_gold_uri: str = "") -> dict[str, Any]:
    """The student training step: read the splits (and the teacher's annotations), assemble the training set with
    ``training_pairs`` and train every method (EXTRA_GOLD_URI: gold-labelled pairs for gold_augmented). Returns
    per-method results and the data counts. Students that never see a teacher (gold_only, gold_augmented) train
    on gold labels alone, so when they are all the methods the annotated pairs are not read: a run that skipped
    annotation (its teacher did not learn) trains them without annotations."""
    teacher_free = not any(config.model_copy(update={"method": method}).uses_teacher for method in methods)
    annotations = load_annotations(annotations_uri or None)
    gold = read_models(train_uri, QueryServicePair)
    annotated = read_models(annotated_pairs_uri, QueryServicePair) if annotated_pairs_uri and not teacher_free else []
    pairs, counts = training_pairs(gold, annotated, annotations)
    extra = read_models(extra_gold_uri, QueryServicePair) if extra_gold_uri else None
    results = train_methods(methods, config, scheme, pairs, read_models(dev_uri, QueryServicePair), output_dir,
                            annotations, extra)
    return {"methods": results, "data": {**counts, "train_pairs": len(pairs),
                                         "teacher_annotations": len(annotations or {})}}
