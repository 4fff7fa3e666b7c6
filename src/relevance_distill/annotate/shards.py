"""Sharded annotation and merge.

Pairs go to shards by a stable hash of ``pair_id``. A shard writes ``annotations.jsonl``,
``quarantine.jsonl`` and ``stats.json`` (rows in, annotated, quarantined, label histogram, tokens generated,
seconds) under ``OUTPUT/shard-XXXXX/`` through ``publish_dir`` (manifest last); a shard whose output already
exists and verifies is skipped, so a rerun after a killed shard redoes only the unfinished ones. The merge
refuses a missing shard and checks rows in = annotated + quarantined over all shards.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.data.readers import iter_models, read_models, write_jsonl
from relevance_distill.layout import MERGED, STATS_FILE
from relevance_distill.llm.consistency import aggregate
from relevance_distill.llm.label_probs import label_distributions
from relevance_distill.progress import Progress, report_result
from relevance_distill.prompts import build_prompt
from relevance_distill.schemas import Annotation, LabelScheme, QueryServicePair


class ShardError(RuntimeError):
    """A shard is missing or its accounting does not add up."""


def shard_of(pair_id: str, shards: int) -> int:
    return int(hashlib.sha256(pair_id.encode()).hexdigest()[:8], 16) % shards


def shard_uri(output_uri: str, index: int) -> str:
    return storage.join(output_uri, f"shard-{index:05d}")


def iter_input_pairs(uri: str, max_pairs: int | None = None) -> Iterator[QueryServicePair]:
    """The pairs to annotate, streamed (validated JSONL, e.g. the prepare step's ``unlabeled.jsonl``); MAX_PAIRS > 0
    keeps the first MAX_PAIRS in file order, the same subset for every shard and for the merge's accounting (0 or
    None: all of them). A shard keeps only its own pairs, so no pod holds the whole file."""
    return islice(iter_models(uri, QueryServicePair), max_pairs or None)


def read_input_pairs(uri: str, max_pairs: int | None = None) -> list[QueryServicePair]:
    """``iter_input_pairs`` as a list."""
    return list(iter_input_pairs(uri, max_pairs))


def shard_done(output_uri: str, index: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="relevance-distill-verify-") as directory:
        try:
            storage.fetch_dir(shard_uri(output_uri, index), directory)
            return True
        except (storage.ManifestMissingError, storage.ChecksumMismatchError):
            return False


def published_shard_stats(output_uri: str, index: int, teacher_digest: str | None = None) -> dict[str, Any] | None:
    """The stats of shard INDEX when it is already published, verifies and (given TEACHER_DIGEST) was annotated by that
    very teacher (then it is skipped), else None: a retrained teacher under the same output annotates again."""
    if not shard_done(output_uri, index):
        return None
    stats = json.loads(storage.read_text(storage.join(shard_uri(output_uri, index), STATS_FILE)))
    if teacher_digest and stats.get("teacher_digest") != teacher_digest:
        report_result(f"shard {index}: published by another teacher ({str(stats.get('teacher_digest'))[:12]}, this one "
                      f"{teacher_digest[:12]}): annotating again")
        return None
    return {**stats, "skipped": True}


#: Prompts per engine call: large enough to keep vLLM's continuous batching full, small enough that a shard
#: reports progress while it runs.
GENERATE_CHUNK_PAIRS = 256


def annotate_shard(pairs: Iterable[QueryServicePair], index: int, shards: int, engine: Any, scheme: LabelScheme,
                   output_uri: str, teacher_version: str, reward: Any | None = None,
                   teacher_digest: str | None = None) -> dict[str, Any]:
    """Annotate this shard's pairs (skipped when its output already exists, verifies and came from the teacher
    TEACHER_DIGEST identifies, ``storage.content_digest``)."""
    published = published_shard_stats(output_uri, index, teacher_digest)
    if published is not None:
        report_result(f"shard {index}: already published, skipped")
        return published
    started = time.monotonic()
    mine = [p for p in pairs if shard_of(p.pair_id, shards) == index]
    tokenizer = engine.prompt_tokenizer()
    annotations: list[Annotation] = []
    quarantine: list[dict[str, Any]] = []
    tokens = 0
    with Progress(f"annotate shard {index}/{shards}", len(mine), unit="pair") as progress:
        for chunk_start in range(0, len(mine), GENERATE_CHUNK_PAIRS):
            chunk = mine[chunk_start : chunk_start + GENERATE_CHUNK_PAIRS]
            prompts = [build_prompt(p.query, p.service.to_text(), scheme, tokenizer) for p in chunk]
            outputs = engine.generate(prompts)
            distributions = label_distributions(engine, prompts, outputs, scheme)
            for pair, answers, sample_distributions in zip(chunk, outputs, distributions):
                tokens += sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
                annotation, record = aggregate(pair, answers, scheme, teacher_version, reward, sample_distributions)
                if annotation is None:
                    quarantine.append(record)
                else:
                    annotations.append(annotation)
            progress.update(len(chunk), annotated=len(annotations), quarantined=len(quarantine))
    stats = {"shard": index, "shards": shards, "rows_in": len(mine), "annotated": len(annotations),
             "quarantined": len(quarantine), "labels": dict(Counter(a.label for a in annotations)),
             "tokens_generated": tokens, "seconds": round(time.monotonic() - started, 3),
             "teacher_digest": teacher_digest}
    if stats["rows_in"] != stats["annotated"] + stats["quarantined"]:
        raise ShardError(f"shard {index}: rows in {stats['rows_in']} != annotated + quarantined")
    with tempfile.TemporaryDirectory(prefix="relevance-distill-shard-") as directory:
        write_jsonl(str(Path(directory) / "annotations.jsonl"), annotations)
        write_jsonl(str(Path(directory) / "quarantine.jsonl"), quarantine)
        (Path(directory) / STATS_FILE).write_text(json.dumps(stats, indent=2), encoding="utf-8")
        storage.publish_dir(directory, shard_uri(output_uri, index), metadata={"stage": "annotate_shard", "shard": index})
    report_result(f"shard {index}: annotated {stats['annotated']}/{stats['rows_in']} pairs, "
                  f"quarantined {stats['quarantined']}")
    return {**stats, "skipped": False}


def merge_shards(output_uri: str, shards: int, merged_uri: str, expected_rows: int | None = None) -> dict[str, Any]:
    """Concatenate every shard's annotations; refuse a missing shard or broken accounting."""
    missing = [i for i in range(shards) if not storage.exists(storage.join(shard_uri(output_uri, i), storage.MANIFEST_NAME))]
    if missing:
        raise ShardError(f"cannot merge: shards {missing} of {shards} are missing under {output_uri}")
    totals = Counter()
    labels: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="relevance-distill-merge-") as directory:
        annotations, quarantine = [], []
        for index in range(shards):
            local = storage.fetch_dir(shard_uri(output_uri, index), Path(directory) / f"shard-{index}")
            stats = json.loads((local / STATS_FILE).read_text(encoding="utf-8"))
            for key in ("rows_in", "annotated", "quarantined", "tokens_generated"):
                totals[key] += stats[key]
            labels.update(stats["labels"])
            annotations.extend(read_models(str(local / "annotations.jsonl"), Annotation))
            quarantine.extend(json.loads(line) for line in (local / "quarantine.jsonl").read_text().splitlines() if line)
        if totals["rows_in"] != totals["annotated"] + totals["quarantined"]:
            raise ShardError(f"rows in {totals['rows_in']} != annotated {totals['annotated']} + quarantined {totals['quarantined']}")
        if expected_rows is not None and totals["rows_in"] != expected_rows:
            raise ShardError(f"shards hold {totals['rows_in']} rows, the input had {expected_rows}")
        out = Path(directory) / "merged"
        out.mkdir()
        write_jsonl(str(out / "annotations.jsonl"), annotations)
        write_jsonl(str(out / "quarantine.jsonl"), quarantine)
        summary = {**totals, "shards": shards, "labels": dict(labels)}
        (out / STATS_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
        storage.publish_dir(out, merged_uri, metadata={"stage": "merge_annotations"})
    report_result(f"merged {shards} shards: {summary['annotated']} of {summary['rows_in']} pairs annotated, "
                  f"{summary['quarantined']} quarantined; labels {summary['labels']}")
    return summary


def annotate_shard_from_uris(teacher_model_uri: str, input_uri: str, output_uri: str, index: int, shards: int,
                             config: Any, scheme: LabelScheme, max_pairs: int | None = None,
                             reward_model_uri: str = "") -> dict[str, Any]:
    """One shard of the annotation step (what one pod of the fan-out does): the engine starts only when the shard
    is not already published, and is shut down afterwards. Returns the shard's stats and ``shard_uri``."""
    from relevance_distill.llm.engines import make_engine

    if not teacher_model_uri:
        raise ValueError("no teacher: set teacher_model_uri (or trained_teacher_model_uri)")
    location = {"shard_uri": shard_uri(output_uri, index)}
    digest = storage.content_digest(teacher_model_uri)
    published = published_shard_stats(output_uri, index, digest)
    if published is not None:
        return {**published, **location}
    reward = None
    if reward_model_uri:
        from relevance_distill.teacher.stages import load_reward_model

        reward = load_reward_model(reward_model_uri, scheme)
    engine = make_engine(teacher_model_uri, config)
    try:
        stats = annotate_shard(iter_input_pairs(input_uri, max_pairs), index, shards, engine, scheme, output_uri,
                               teacher_model_uri, reward, digest)
    finally:
        engine.close()
    return {**stats, **location}


def merge_step(output_uri: str, num_shards: int, input_uri: str = "", max_pairs: int | None = None) -> dict[str, Any]:
    """The merge step: every shard under OUTPUT_URI into OUTPUT_URI/merged/, checked against the input's row
    count when INPUT_URI is given. Returns the merge summary with ``annotations_uri``."""
    expected = sum(1 for _ in iter_input_pairs(input_uri, max_pairs)) if input_uri else None
    merged = storage.join(output_uri, MERGED)
    summary = merge_shards(output_uri, num_shards, merged, expected_rows=expected)
    return {**summary, "annotations_uri": storage.join(merged, "annotations.jsonl")}
