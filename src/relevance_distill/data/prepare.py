"""The prepare stage: validate + de-duplicate + split labelled pairs, published as one checksummed artifact.

Artifact layout (under the output URI, ``manifest.json`` written last):
``train.jsonl dev.jsonl test.jsonl`` (names from the config), ``unlabeled.jsonl`` (what the teacher annotates:
the search-log pairs, or the training pairs when there are no logs), ``quarantine.jsonl``, ``validation.json``
(rows in / kept / quarantined and reasons, the test set's source and fingerprint, leakage removed),
``stats.json`` (per split) and ``label_scheme.json``.

Every file streams: rows are validated, split and written one at a time, and only keys (de-duplication
digests, query groups and their sizes, the dev/test queries) stay in memory.

A fixed test set (TEST_URI) is only ever evaluated on: labelled pairs whose query also occurs in it are
removed from train/dev, and search-log pairs whose query occurs in dev or test are removed from the logs
(both quarantined with a reason and counted), so nothing a model is trained, tuned or stopped on has seen a
test query. The built-in data gets the same log de-duplication.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.config import PrepareDataConfig
from relevance_distill.data.adapters import open_adapter
from relevance_distill.data.readers import JsonlWriter, iter_models
from relevance_distill.data.split import StatsAccumulator, assign_groups, split_key
from relevance_distill.data.validate import (
    ValidationReport,
    normalised_query,
    validate_stream,
)
from relevance_distill.layout import UNLABELED_FILE, VALIDATION_FILE
from relevance_distill.progress import report_result
from relevance_distill.schemas import LabelScheme, QueryServicePair, fingerprint_entries

TEST_SPLIT = "test"


class InputDataError(ValueError):
    """An input file cannot be used at all (missing, empty after validation, another label scheme)."""


def require_input(uri: str, role: str) -> None:
    """Fail before any work when an input file does not exist."""
    if not storage.exists(uri):
        raise InputDataError(f"{role} file {uri!r} does not exist")


def _nothing_usable(uri: str, role: str, report: ValidationReport, scheme: LabelScheme) -> InputDataError:
    reasons = ", ".join(f"{code} {count}" for code, count in report.reasons.items()) or "no rows"
    hint = ""
    if report.reasons.get("unknown_label"):
        hint = (f"; its labels are not those of the label scheme {scheme.name!r} ({scheme.names}): is it in another "
                "label scheme than the training data? (--label-scheme, --format)")
    return InputDataError(f"{role} file {uri!r} has no usable row after validation: {report.rows_in} rows in, "
                          f"quarantined {reasons}{hint}")


def prepare_dataset(
    input_uri: str,
    output_uri: str,
    config: PrepareDataConfig,
    products_uri: str | None = None,
    on_row: Callable[[], None] | None = None,
    test_uri: str = "",
    unlabeled_uri: str = "",
) -> dict[str, Any]:
    """Validate, split and publish INPUT_URI (and a fixed TEST_URI, and the search logs at UNLABELED_URI)."""
    scheme = config.resolved_label_scheme()
    for uri, role in ((input_uri, "labelled"), (test_uri, "test"), (unlabeled_uri, "unlabelled"), (products_uri, "products")):
        if uri:
            require_input(uri, role)
    with tempfile.TemporaryDirectory(prefix="relevance-distill-prepare-") as directory:
        root = Path(directory)
        quarantine = JsonlWriter(root / "quarantine.jsonl")
        summary: dict[str, Any] = {"output_uri": output_uri}
        test_queries: set[str] = set()
        test_entries: list[str] = []
        test_stats = StatsAccumulator()
        if test_uri:
            with JsonlWriter(root / f"{TEST_SPLIT}.jsonl") as test_file:
                def keep_test(pair: QueryServicePair) -> None:
                    test_file.write(pair)
                    test_queries.add(normalised_query(pair.query))
                    test_entries.append(f"{pair.pair_id}\t{pair.label}")
                    test_stats.add(pair)

                test_report = validate_stream(open_adapter(config.input_format, test_uri, products_uri), scheme, keep_test,
                                              lambda record: quarantine.write({**record, "file": "test"}))
            if not test_report.kept:
                raise _nothing_usable(test_uri, "test", test_report, scheme)
            if test_report.reasons.get("unknown_label"):
                # A partly foreign test set would silently measure something else: refuse it whole.
                raise InputDataError(f"test file {test_uri!r}: {test_report.reasons['unknown_label']} of "
                                     f"{test_report.rows_in} rows have labels outside the label scheme {scheme.name!r} "
                                     f"({scheme.names}); a test set must be in the training data's label scheme "
                                     "(is it in another label scheme? --label-scheme, --format)")
            summary["test_validation"] = test_report.to_dict()

        # Pass 1: validate into a staging file, counting the split unit's sizes (and dropping test-query leaks).
        sizes: Counter[str] = Counter()
        leaked = 0
        with JsonlWriter(root / "kept.staging") as staging:
            def keep(pair: QueryServicePair) -> None:
                nonlocal leaked
                if normalised_query(pair.query) in test_queries:
                    leaked += 1
                    quarantine.write({"pair_id": pair.pair_id, "reason": "its query occurs in the fixed test set",
                                      "reason_code": "test_query_leak", "row": pair.model_dump(mode="json")})
                    return
                staging.write(pair)
                sizes[split_key(pair, config.split_strategy)] += 1

            report = validate_stream(open_adapter(config.input_format, input_uri, products_uri), scheme, keep,
                                     quarantine.write, config.require_label, config.deduplicate, on_row)
        if not sizes:
            if leaked:
                raise InputDataError(f"labelled file {input_uri!r}: all {leaked} valid pairs share a query with the "
                                     f"test set {test_uri!r}, so none is left to train on")
            raise _nothing_usable(input_uri, "labelled", report, scheme)

        # Pass 2: stream the staging file into the splits.
        fractions = dict(config.split_fractions)
        if test_uri:
            fractions.pop(TEST_SPLIT, None)
            total = sum(fractions.values())
            fractions = {name: share / total for name, share in fractions.items()}
        assignment = assign_groups(dict(sizes), fractions, config.seed)
        sizes.clear()  # only the assignment is needed from here on
        writers = {name: JsonlWriter(root / f"{name}.jsonl") for name in fractions}
        stats = {name: StatsAccumulator() for name in fractions}
        held_out_queries: set[str] = set(test_queries)
        for pair in iter_models(str(root / "kept.staging"), QueryServicePair):
            name = assignment[split_key(pair, config.split_strategy)]
            writers[name].write(pair)
            stats[name].add(pair)
            if name == TEST_SPLIT:
                test_entries.append(f"{pair.pair_id}\t{pair.label}")
            if name != "train":
                held_out_queries.add(normalised_query(pair.query))
        for writer in writers.values():
            writer.close()
        (root / "kept.staging").unlink()
        if test_uri:
            stats[TEST_SPLIT] = test_stats
        for name, accumulated in stats.items():
            if not accumulated.pairs:
                raise InputDataError(f"labelled file {input_uri!r}: split {name!r} is empty ({report.kept} pairs kept, "
                                     f"split {config.split_strategy!r} with fractions {fractions}); give more data or "
                                     "other split fractions")

        unlabeled = _write_unlabeled(root, unlabeled_uri, held_out_queries, scheme, quarantine, stats["train"].pairs)
        quarantine.close()
        validation = {**report.to_dict(), "test_query_leaks_removed": leaked}
        summary.update({
            "validation": validation,
            "test": {"source": test_uri or "split of the labelled file", "pairs": len(test_entries),
                     "fingerprint": fingerprint_entries(test_entries)},
            "unlabeled": unlabeled,
            "splits": {name: accumulated.result() for name, accumulated in stats.items()},
        })
        (root / VALIDATION_FILE).write_text(json.dumps({**validation, "test": summary["test"], "unlabeled": unlabeled,
                                                          **({"test_validation": summary["test_validation"]} if test_uri else {})},
                                                         indent=2), encoding="utf-8")
        (root / "stats.json").write_text(json.dumps(summary["splits"], indent=2, ensure_ascii=False), encoding="utf-8")
        (root / "label_scheme.json").write_text(scheme.model_dump_json(indent=2), encoding="utf-8")
        storage.publish_dir(root, output_uri, metadata={"stage": "prepare", "input": input_uri, "test": test_uri,
                                                       "unlabeled": unlabeled_uri})
    report_result(f"prepared {sum(s['pairs'] for s in summary['splits'].values())} pairs ("
                  + ", ".join(f"{name} {s['pairs']}" for name, s in summary["splits"].items())
                  + f"), {report.quarantined} quarantined, {leaked} removed for sharing a test query; "
                  + f"{unlabeled['pairs']} pairs to annotate ({unlabeled['source']})")
    return summary


def _write_unlabeled(root: Path, unlabeled_uri: str, held_out_queries: set[str], scheme: LabelScheme,
                     quarantine: JsonlWriter, train_pairs: int) -> dict[str, Any]:
    """UNLABELED_FILE: the search-log pairs minus those whose query is in dev or test, or else the training pairs
    (the teacher then writes reasoning for the gold-labelled pairs themselves)."""
    target = root / UNLABELED_FILE
    if not unlabeled_uri:
        shutil.copyfile(root / "train.jsonl", target)
        return {"source": "training pairs (no search logs given)", "pairs": train_pairs, "rows_in": train_pairs,
                "held_out_query_removed": 0, "quarantined": 0}
    removed = 0
    with JsonlWriter(target) as logs:
        def keep(pair: QueryServicePair) -> None:
            nonlocal removed
            if normalised_query(pair.query) in held_out_queries:
                removed += 1
                quarantine.write({"pair_id": pair.pair_id, "reason": "search-log pair whose query occurs in dev or test",
                                  "reason_code": "held_out_query_in_logs", "file": "unlabeled"})
                return
            logs.write(pair)

        report = validate_stream(open_adapter("jsonl", unlabeled_uri), scheme, keep,
                                 lambda record: quarantine.write({**record, "file": "unlabeled"}), require_label=False)
    return {"source": unlabeled_uri, "pairs": logs.count, "rows_in": report.rows_in, "held_out_query_removed": removed,
            "quarantined": report.quarantined, "reasons": report.reasons}


def split_uris(output_uri: str, names: tuple[str, ...] = ("train", "dev", "test")) -> dict[str, str]:
    """Where ``prepare_dataset`` published each split (and, as 'unlabeled', the pairs the teacher annotates)."""
    uris = {name: storage.join(output_uri, f"{name}.jsonl") for name in names}
    return {**uris, "unlabeled": storage.join(output_uri, UNLABELED_FILE)}
