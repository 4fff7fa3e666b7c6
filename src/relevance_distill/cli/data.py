"""`relevance-distill data …`: generate, validate, split and describe relevance data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from relevance_distill import storage
from relevance_distill.cli.common import (
    FORMATS,
    data_app,
    fail,
    print_counts,
    row_progress,
)
from relevance_distill.config import (
    ConfigError,
    DataGenerationConfig,
    PrepareDataConfig,
    config_from_arguments,
    parse_config,
)


@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option(help="Directory to write services/labeled/search_logs/corpus JSONL into.")],
    seed: Annotated[Optional[int], typer.Option(help="Random seed; the same seed gives the same files (default 13).")] = None,
    services: Annotated[Optional[int], typer.Option(help="Services in the catalogue (default 600).")] = None,
    queries: Annotated[Optional[int], typer.Option(help="Distinct labelled queries (default 400).")] = None,
    candidates: Annotated[Optional[int], typer.Option(help="Judged services per labelled query (default 8).")] = None,
    log_pairs: Annotated[Optional[int], typer.Option(help="Unlabelled search-log pairs (default 3000).")] = None,
    corpus_docs: Annotated[Optional[int], typer.Option(help="Platform-text documents for pre-training (default 2000).")] = None,
    chinese_share: Annotated[Optional[float], typer.Option(help="Share of Chinese queries and services (default 0.4).")] = None,
) -> None:
    """Generate the built-in local-services data (seeded, deterministic)."""
    from relevance_distill.builtin_world.generate import generate_dataset

    try:
        config = config_from_arguments(DataGenerationConfig, seed=seed, num_services=services, num_queries=queries,
                                       candidates_per_query=candidates, num_log_pairs=log_pairs,
                                       corpus_documents=corpus_docs, chinese_share=chinese_share)
    except ConfigError as error:
        fail(str(error))
    summary = generate_dataset(config, out)
    print_counts(f"generated into {out}", {**summary["counts"], "labels": summary["labels"]})


@data_app.command("validate")
def data_validate(
    input_uri: Annotated[str, typer.Argument(metavar="INPUT", help="Input file: local path or s3:// URI.")],
    input_format: Annotated[str, typer.Option("--format", help=f"Input format: {', '.join(FORMATS)}.")] = "jsonl",
    output: Annotated[str, typer.Option(help="Where kept rows go (our JSONL schema).")] = "kept.jsonl",
    quarantine: Annotated[str, typer.Option(help="Where quarantined rows go, one JSON per line with 'reason'.")] = "quarantine.jsonl",
    products: Annotated[Optional[str], typer.Option(help="Products file (esci format only).")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(help="Label scheme; default follows the format.")] = None,
    allow_unlabeled: Annotated[bool, typer.Option(help="Keep rows without a label (search logs).")] = False,
    dedup: Annotated[bool, typer.Option(help="Quarantine repeated (query, service) pairs.")] = True,
    report: Annotated[Optional[str], typer.Option(help="Also write the counts as JSON here.")] = None,
) -> None:
    """Validate a file: keep good rows, quarantine bad ones with reasons, and report the counts."""
    from relevance_distill.data.adapters import DEFAULT_SCHEME_FOR_FORMAT
    from relevance_distill.data.validate import report_json, validate_file
    from relevance_distill.schemas import get_label_scheme

    if input_format not in FORMATS:
        fail(f"unknown --format {input_format!r}; allowed: {FORMATS}")
    try:
        scheme = get_label_scheme(label_scheme or DEFAULT_SCHEME_FOR_FORMAT[input_format])
        with row_progress(f"validating {input_uri}") as advance:
            result = validate_file(input_uri, input_format, output, quarantine, scheme, products,
                                   require_label=not allow_unlabeled, deduplicate=dedup, on_row=advance)
    except (ValueError, FileNotFoundError) as error:
        fail(str(error))
    if report:
        storage.write_text(report, report_json(result))
    print_counts(f"validated {input_uri}", {"rows in": result.rows_in, "kept": result.kept,
                                             "quarantined": result.quarantined, "reasons": result.reasons,
                                             "labels": result.labels})
    print(f"kept {result.kept} rows -> {output}; quarantined {result.quarantined} rows -> {quarantine}; "
          f"rows in {result.rows_in} = kept {result.kept} + quarantined {result.quarantined}")


def _parse_fractions(text: str) -> dict[str, float]:
    fractions = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            fractions[name.strip()] = float(value)
        except ValueError:
            fail(f"bad --fractions entry {part!r}; expected NAME=SHARE, e.g. train=0.8,dev=0.1,test=0.1")
    return fractions


@data_app.command("split")
def data_split(
    input_uri: Annotated[str, typer.Argument(metavar="INPUT", help="Validated JSONL (our schema).")],
    out: Annotated[str, typer.Option(help="Directory or s3:// prefix for NAME.jsonl per split.")],
    strategy: Annotated[str, typer.Option(help="'query' keeps a query's pairs together; 'random' does not.")] = "query",
    fractions: Annotated[str, typer.Option(help="Split shares, NAME=SHARE comma separated.")] = "train=0.8,dev=0.1,test=0.1",
    seed: Annotated[int, typer.Option(help="Seed of the assignment.")] = 13,
) -> None:
    """Split validated pairs deterministically into train/dev/test."""
    from relevance_distill.data.readers import read_models, write_jsonl
    from relevance_distill.data.split import dataset_stats, split_pairs
    from relevance_distill.schemas import QueryServicePair

    try:
        config = parse_config(PrepareDataConfig, {"split_strategy": strategy, "split_fractions": _parse_fractions(fractions), "seed": seed})
        pairs = read_models(input_uri, QueryServicePair)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        fail(str(error))
    splits = split_pairs(pairs, config.split_fractions, config.split_strategy, config.seed)
    stats = {}
    for name, subset in splits.items():
        write_jsonl(storage.join(out, f"{name}.jsonl"), subset)
        stats[name] = dataset_stats(subset)
    storage.write_text(storage.join(out, "split_stats.json"), json.dumps(stats, indent=2, ensure_ascii=False))
    print_counts(f"split {input_uri} ({strategy})", {name: f"{s['pairs']} pairs, {s['queries']} queries" for name, s in stats.items()})


@data_app.command("stats")
def data_stats(input_uri: Annotated[str, typer.Argument(metavar="INPUT", help="Validated JSONL (our schema).")]) -> None:
    """Describe a validated JSONL file: pairs, queries, labels, languages, sources, text lengths."""
    from relevance_distill.data.readers import read_models
    from relevance_distill.data.split import dataset_stats
    from relevance_distill.schemas import QueryServicePair

    try:
        pairs = read_models(input_uri, QueryServicePair)
    except (ValueError, FileNotFoundError) as error:
        fail(str(error))
    stats = dataset_stats(pairs)
    print_counts(f"stats of {input_uri}", stats)
    print(json.dumps(stats, ensure_ascii=False))


