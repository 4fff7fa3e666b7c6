"""``relevance-distill`` command line: data tools and the main job (``run``)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from relevance_distill import storage
from relevance_distill.config import (
    ConfigError,
    DataGenerationConfig,
    PrepareDataConfig,
    RunConfig,
    load_config,
    parse_config,
)

app = typer.Typer(help="Distil a reasoning LLM into a fast BERT relevance model (arXiv 2510.11056).", no_args_is_help=True)
data_app = typer.Typer(help="Generate, validate, split and describe query-service relevance data.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console(stderr=True)

FORMATS = ["jsonl", "crowdflower", "esci", "qbqtc"]



def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _row_progress(description: str) -> Iterator[callable]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda: progress.advance(task)


def _print_counts(title: str, counts: dict[str, object]) -> None:
    table = Table(title=title, show_header=False)
    for key, value in counts.items():
        table.add_row(str(key), json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    Console().print(table)


@data_app.command("generate")
def data_generate(
    out: Annotated[Path, typer.Option(help="Directory to write services/labeled/search_logs/corpus JSONL into.")],
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 13,
    services: Annotated[int, typer.Option(help="Services in the catalogue.")] = 600,
    queries: Annotated[int, typer.Option(help="Distinct labelled queries.")] = 400,
    candidates: Annotated[int, typer.Option(help="Judged services per labelled query.")] = 8,
    log_pairs: Annotated[int, typer.Option(help="Unlabelled search-log pairs.")] = 3000,
    corpus_docs: Annotated[int, typer.Option(help="Platform-text documents for pre-training.")] = 2000,
    chinese_share: Annotated[float, typer.Option(help="Share of Chinese queries and services.")] = 0.4,
) -> None:
    """Generate the built-in local-services data (seeded, deterministic)."""
    from relevance_distill.data.generate import generate_dataset

    try:
        config = parse_config(DataGenerationConfig, {
            "seed": seed, "num_services": services, "num_queries": queries, "candidates_per_query": candidates,
            "num_log_pairs": log_pairs, "corpus_documents": corpus_docs, "chinese_share": chinese_share,
        })
    except ConfigError as error:
        _fail(str(error))
    summary = generate_dataset(config, out)
    _print_counts(f"generated into {out}", {**summary["counts"], "labels": summary["labels"]})


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
        _fail(f"unknown --format {input_format!r}; allowed: {FORMATS}")
    try:
        scheme = get_label_scheme(label_scheme or DEFAULT_SCHEME_FOR_FORMAT[input_format])
        with _row_progress(f"validating {input_uri}") as advance:
            result = validate_file(input_uri, input_format, output, quarantine, scheme, products,
                                   require_label=not allow_unlabeled, deduplicate=dedup, on_row=advance)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))
    if report:
        storage.write_text(report, report_json(result))
    _print_counts(f"validated {input_uri}", {"rows in": result.rows_in, "kept": result.kept,
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
            _fail(f"bad --fractions entry {part!r}; expected NAME=SHARE, e.g. train=0.8,dev=0.1,test=0.1")
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
        _fail(str(error))
    splits = split_pairs(pairs, config.split_fractions, config.split_strategy, config.seed)
    stats = {}
    for name, subset in splits.items():
        write_jsonl(storage.join(out, f"{name}.jsonl"), subset)
        stats[name] = dataset_stats(subset)
    storage.write_text(storage.join(out, "split_stats.json"), json.dumps(stats, indent=2, ensure_ascii=False))
    _print_counts(f"split {input_uri} ({strategy})", {name: f"{s['pairs']} pairs, {s['queries']} queries" for name, s in stats.items()})


@data_app.command("stats")
def data_stats(input_uri: Annotated[str, typer.Argument(metavar="INPUT", help="Validated JSONL (our schema).")]) -> None:
    """Describe a validated JSONL file: pairs, queries, labels, languages, sources, text lengths."""
    from relevance_distill.data.readers import read_models
    from relevance_distill.data.split import dataset_stats
    from relevance_distill.schemas import QueryServicePair

    try:
        pairs = read_models(input_uri, QueryServicePair)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))
    stats = dataset_stats(pairs)
    _print_counts(f"stats of {input_uri}", stats)
    print(json.dumps(stats, ensure_ascii=False))


def _read_pairs(uri: str):
    from relevance_distill.data.readers import read_models
    from relevance_distill.schemas import QueryServicePair

    return read_models(uri, QueryServicePair)


def _scheme(name_or_file: str):
    from relevance_distill.schemas import LabelScheme, get_label_scheme

    if name_or_file.endswith(".json"):
        return LabelScheme.model_validate_json(storage.read_text(name_or_file))
    return get_label_scheme(name_or_file)


@app.command("train-student")
def train_student_command(
    train: Annotated[str, typer.Option(help="Training pairs (JSONL, our schema; local or s3://).")],
    dev: Annotated[str, typer.Option(help="Dev pairs with gold labels (early stopping, best checkpoint).")],
    output: Annotated[Path, typer.Option(help="Directory; one sub-directory per method.")],
    annotations: Annotated[Optional[str], typer.Option(help="Teacher annotations (JSONL of Annotation); "
                                                            "without them gold labels and reasoning stand in.")] = None,
    methods: Annotated[str, typer.Option(help="Comma-separated: crsd, vanilla, logit_kd, crsd_no_kl, crsd_no_contrastive.")] = "crsd",
    profile: Annotated[str, typer.Option(help="smoke or demo; sets the student defaults.")] = "demo",
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML StudentTrainConfig; wins over the profile.")] = None,
    label_scheme: Annotated[str, typer.Option(help="Built-in scheme name or a label_scheme.json.")] = "local_services",
    max_steps: Annotated[Optional[int], typer.Option(help="Override the step budget.")] = None,
) -> None:
    """Train CRSD and/or baselines with identical data, steps and seeds."""
    import yaml

    from relevance_distill.config import student_config_for
    from relevance_distill.student.compare import load_annotations, train_methods

    try:
        overrides = yaml.safe_load(config_file.read_text()) if config_file else {}
        if max_steps:
            overrides["max_steps"] = max_steps
        config = student_config_for(profile, **(overrides or {}))
        method_list = [m.strip() for m in methods.split(",") if m.strip()]
        scheme = _scheme(label_scheme)
        results = train_methods(method_list, config, scheme, _read_pairs(train), _read_pairs(dev), output,
                                load_annotations(annotations))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        _fail(str(error))
    _print_counts("student training", {m: f"best dev macro-F1 {r['best_dev_macro_f1']:.4f} at step {r['best_step']}, "
                                          f"{r['steps']} steps, {r['seconds']:.0f}s" for m, r in results.items()})


@app.command("evaluate")
def evaluate_command(
    test: Annotated[str, typer.Option(help="Gold test pairs (JSONL).")],
    models: Annotated[str, typer.Option(help="METHOD=DIR pairs, comma separated (DIR: a trained 'best' dir).")],
    out: Annotated[Path, typer.Option(help="Directory for metrics/, metrics.json, gate.json, report.html.")],
    label_scheme: Annotated[str, typer.Option(help="Built-in scheme name or a label_scheme.json.")] = "local_services",
    max_length: Annotated[int, typer.Option(help="Standard-view token budget used in training.")] = 96,
    teacher_macro_f1: Annotated[Optional[float], typer.Option(help="Teacher macro-F1 on the same gold set (retention).")] = None,
    production_metrics: Annotated[Optional[str], typer.Option(help="metrics.json of the production model (gate).")] = None,
    gate_config: Annotated[Optional[Path], typer.Option(help="YAML GateConfig.")] = None,
    training_dir: Annotated[Optional[Path], typer.Option(help="train-student output, for training curves.")] = None,
) -> None:
    """Evaluate students on a gold test set, write the HTML report and the gate decision."""
    from relevance_distill.evaluation.gate import GateConfig
    from relevance_distill.student.compare import evaluate_methods, read_histories

    try:
        model_dirs = dict(part.split("=", 1) for part in models.split(","))
        gate = load_config(GateConfig, gate_config) if gate_config else GateConfig()
        production = json.loads(storage.read_text(production_metrics)) if production_metrics else None
        histories = read_histories(training_dir, list(model_dirs)) if training_dir else None
        summary = evaluate_methods(model_dirs, _read_pairs(test), _scheme(label_scheme), out, max_length,
                                   teacher_macro_f1, gate, production, histories)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        _fail(str(error))
    _print_counts("evaluation (test)", {m: f"macro-F1 {r['test']['macro_f1']:.4f}, QWK {r['test']['qwk']:.4f}, "
                                           f"acc {r['test']['accuracy']:.4f}" for m, r in summary["methods"].items()})
    print(f"gate {'PASSED' if summary['gate']['passed'] else 'FAILED'}: {'; '.join(summary['gate']['reasons'])}")
    print(f"report: {summary['report']}")


@app.command("export")
def export_command(
    model: Annotated[Path, typer.Option(help="Trained student directory (train-student's METHOD/best).")],
    output_root: Annotated[str, typer.Option(help="Root URI; the model goes to ROOT/models/NAME/VERSION/.")],
    name: Annotated[str, typer.Option(help="Model name.")] = "relevance",
    version: Annotated[Optional[str], typer.Option(help="Version; default a UTC timestamp.")] = None,
    label_scheme: Annotated[str, typer.Option(help="Built-in scheme name or a label_scheme.json.")] = "local_services",
    metrics: Annotated[Optional[str], typer.Option(help="metrics.json to ship with the model.")] = None,
    max_length: Annotated[int, typer.Option(help="Standard-view token budget used in training.")] = 96,
    method: Annotated[str, typer.Option(help="Training method, recorded in the model card.")] = "crsd",
    onnx: Annotated[bool, typer.Option(help="Also export model.onnx (parity-checked).")] = False,
    quantize: Annotated[bool, typer.Option(help="Also export dynamic INT8 model.int8.onnx (needs --onnx).")] = False,
    local_copy: Annotated[Optional[Path], typer.Option(help="Also keep the exported files here.")] = None,
) -> None:
    """Export the standard-view student (projection head dropped) and publish it with a manifest."""
    from relevance_distill.export import export_student

    try:
        result = export_student(model, output_root, _scheme(label_scheme), name,
                                version or datetime.now(timezone.utc).strftime("v%Y%m%d%H%M%S"),
                                json.loads(storage.read_text(metrics)) if metrics else None, max_length, method,
                                onnx, quantize, local_copy)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        _fail(str(error))
    print(f"published {result['model_uri']} ({len(result['files'])} files)")


@app.command("serve")
def serve_command(
    model: Annotated[str, typer.Option(help="Exported model: s3:// prefix or directory (with manifest.json).")],
    port: Annotated[int, typer.Option(help="HTTP port (loopback and cluster alike).")] = 8080,
    name: Annotated[str, typer.Option(help="Model name in the URL: /v1/models/NAME:predict, /v2/models/NAME/infer.")] = "relevance",
    backend: Annotated[str, typer.Option(help="torch or onnx (needs an export made with --onnx).")] = "torch",
    num_threads: Annotated[Optional[int], typer.Option(help="CPU threads for inference.")] = None,
    max_batch_size: Annotated[int, typer.Option(help="Largest accepted batch.")] = 256,
    grpc_port: Annotated[int, typer.Option(help="gRPC port (Open Inference Protocol over gRPC).")] = 8081,
) -> None:
    """Serve the student with the KServe model server (V1 and Open Inference Protocol V2)."""
    from relevance_distill.serving.__main__ import main as serve_main

    if backend not in {"torch", "onnx"}:
        _fail(f"unknown --backend {backend!r}; allowed: ['onnx', 'torch']")
    argv = ["--model_uri", model, "--http_port", str(port), "--grpc_port", str(grpc_port), "--model_name", name,
            "--backend", backend, "--max_batch_size", str(max_batch_size)]
    if num_threads:
        argv += ["--num_threads", str(num_threads)]
    serve_main(argv)


@app.command("teacher")
def teacher_command(
    corpus: Annotated[str, typer.Option(help="Platform text for CPT (JSONL of {\"text\": …}).")],
    train: Annotated[str, typer.Option(help="Gold pairs with labels and reasoning (JSONL).")],
    test: Annotated[str, typer.Option(help="Gold test pairs for the teacher's macro-F1.")],
    output: Annotated[str, typer.Option(help="Directory or s3:// prefix for cpt/ sft/ reward/ dpo/ and report.json.")],
    profile: Annotated[str, typer.Option(help="smoke, demo, or a TeacherConfig YAML (e.g. configs/teacher/production-qwen2.5-7b.yaml).")] = "demo",
    label_scheme: Annotated[str, typer.Option(help="Built-in scheme name or a label_scheme.json.")] = "local_services",
    eval_pairs: Annotated[int, typer.Option(help="Gold test pairs the teacher answers after SFT and after DPO (0: all).")] = 0,
) -> None:
    """Build the teacher: CPT → reasoning SFT → reward model → DPO, measured after SFT and after DPO."""
    from relevance_distill.teacher.profiles import teacher_config
    from relevance_distill.teacher.run import run_teacher

    try:
        config = teacher_config(profile)
        report = run_teacher(config, corpus, _read_pairs(train), _read_pairs(test), _scheme(label_scheme), output, eval_pairs)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        _fail(str(error))
    _print_counts("teacher", {"majority macro-F1": f"{report['majority_macro_f1']:.4f}",
                              "after SFT macro-F1": f"{report['after_sft']['macro_f1']:.4f}",
                              "after DPO macro-F1": f"{report['after_dpo']['macro_f1']:.4f}",
                              "reward after SFT": report["after_sft"].get("reward", {}),
                              "reward after DPO": report["after_dpo"].get("reward", {})})
    print(f"teacher model: {report['teacher_model_uri']}")
    print(f"report: {storage.join(output, 'report.json')}")


@app.command("annotate")
def annotate_command(
    teacher: Annotated[str, typer.Option(help="Teacher model: s3:// prefix (with manifest) or directory.")],
    input_uri: Annotated[str, typer.Option("--input", help="Pairs to annotate (JSONL, our schema).")],
    output: Annotated[str, typer.Option(help="Prefix for shard-XXXXX/ outputs and merged/.")],
    shards: Annotated[int, typer.Option(help="Number of shards (each is a separate unit of work).")] = 4,
    engine: Annotated[str, typer.Option(help="transformers (CPU fallback) or vllm.")] = "transformers",
    samples: Annotated[int, typer.Option(help="Self-consistency samples per pair.")] = 5,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer.")] = 192,
    label_scheme: Annotated[str, typer.Option(help="Built-in scheme name or a label_scheme.json.")] = "local_services",
    only_shard: Annotated[Optional[int], typer.Option(help="Run just this shard (one pod of a fan-out).")] = None,
    max_pairs: Annotated[int, typer.Option(help="Annotate only the input's first N pairs (0: all).")] = 0,
    reward_model: Annotated[Optional[str], typer.Option(help="Reward model: picks the best-scoring majority reasoning.")] = None,
    tensor_parallel_size: Annotated[int, typer.Option(help="GPUs per vLLM replica.")] = 1,
) -> None:
    """Annotate pairs with the teacher: sharded, self-consistent, resumable; merge with accounting."""
    from relevance_distill.annotate.engines import EngineConfig, make_engine
    from relevance_distill.annotate.shards import annotate_shard, merge_shards, read_input_pairs
    from relevance_distill.teacher.stages import load_reward_model

    try:
        config = parse_config(EngineConfig, {"engine": engine, "samples": samples, "temperature": temperature,
                                             "max_new_tokens": max_new_tokens, "tensor_parallel_size": tensor_parallel_size})
        pairs = read_input_pairs(input_uri, max_pairs)
        scheme = _scheme(label_scheme)
        reward = load_reward_model(reward_model, scheme) if reward_model else None
        generator = make_engine(teacher, config)
        indices = [only_shard] if only_shard is not None else list(range(shards))
        try:
            for index in indices:
                with _row_progress(f"shard {index}/{shards}") as advance:
                    stats = annotate_shard(pairs, index, shards, generator, scheme, output, teacher, reward, on_pair=advance)
                print(f"shard {index}: {'skipped (done)' if stats['skipped'] else 'annotated'} "
                      f"{stats['annotated']}/{stats['rows_in']}, quarantined {stats['quarantined']}")
        finally:
            generator.close()
        if only_shard is None:
            summary = merge_shards(output, shards, storage.join(output, "merged"), expected_rows=len(pairs))
            print(f"merged: rows in {summary['rows_in']} = annotated {summary['annotated']} + quarantined "
                  f"{summary['quarantined']}; labels {summary['labels']}")
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as error:
        _fail(str(error))


abtest_app = typer.Typer(help="Simulate A/B traffic and analyse canary experiments.", no_args_is_help=True)
app.add_typer(abtest_app, name="abtest")


def _builtin_pool(seed: int, stable_scores: Optional[str] = None, canary_scores: Optional[str] = None):
    import tempfile

    from relevance_distill.data.generate import generate_dataset
    from relevance_distill.data.readers import iter_jsonl
    from relevance_distill.rollout.simulate import QueryPool
    from relevance_distill.schemas import get_label_scheme

    def scores(uri: Optional[str]):
        return {row["pair_id"]: float(row["score"]) for _, row in iter_jsonl(uri)} if uri else None

    with tempfile.TemporaryDirectory() as directory:
        generate_dataset(DataGenerationConfig(seed=seed, num_log_pairs=0, corpus_documents=0), directory)
        pairs = _read_pairs(str(Path(directory) / "labeled.jsonl"))
    grade_of = {name: i for i, name in enumerate(get_label_scheme("local_services").names)}
    return QueryPool.from_pairs(pairs, grade_of, seed, scores(stable_scores), scores(canary_scores))


@abtest_app.command("simulate")
def abtest_simulate(
    out: Annotated[str, typer.Option(help="Event log to write: .jsonl or .parquet, local or s3://.")],
    users: Annotated[int, typer.Option(help="Users in the experiment.")] = 20_000,
    split: Annotated[float, typer.Option(help="Configured canary share of users.")] = 0.5,
    true_ctr_lift: Annotated[float, typer.Option(help="True relative CTR lift of the canary (0 for A/A).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of data, allocation and clicks.")] = 0,
    allocation: Annotated[Optional[float], typer.Option(help="Actual canary share, to simulate a broken split.")] = None,
    sessions_per_user: Annotated[float, typer.Option(help="Mean searches per user.")] = 2.0,
    stable_scores: Annotated[Optional[str], typer.Option(help="JSONL {pair_id, score} of the stable model.")] = None,
    canary_scores: Annotated[Optional[str], typer.Option(help="JSONL {pair_id, score} of the canary model.")] = None,
) -> None:
    """Generate an impression log from two rankers on the built-in pool with a position-biased click model."""
    from relevance_distill.data.readers import write_jsonl
    from relevance_distill.rollout.simulate import events_to_rows, simulate

    if not 0 < split < 1:
        _fail(f"--split must be in (0, 1), got {split}")
    pool = _builtin_pool(seed, stable_scores, canary_scores)
    events, context = simulate(pool, users, split, true_ctr_lift, seed, allocation, sessions_per_user)
    rows = list(events_to_rows(events, context, pool))
    if out.endswith(".parquet"):
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buffer)
        storage.write_bytes(out, buffer.getvalue())
    else:
        write_jsonl(out, rows)
    print(f"wrote {len(rows)} impressions of {users} users to {out}")


@abtest_app.command("analyze")
def abtest_analyze(
    events: Annotated[str, typer.Argument(metavar="EVENTS", help="Event log (JSONL or Parquet, local or s3://).")],
    out: Annotated[Path, typer.Option(help="Directory for decision.json, report.html, lift.png.")],
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    expected_split: Annotated[float, typer.Option(help="Configured canary share (never read from the log).")] = 0.5,
    primary_metric: Annotated[str, typer.Option(help="ctr, cvr or gtv: the metric that decides promotion.")] = "ctr",
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML ABTestConfig; flags win.")] = None,
) -> None:
    """Analyse an experiment: SRM, lifts with CIs, fixed and sequential tests, guardrails, decision."""
    from relevance_distill.rollout.abtest import ABTestConfig, analyze_events, decision_document, load_events, write_report

    try:
        overrides = {"alpha": alpha, "expected_split": expected_split, "primary_metric": primary_metric}
        config = load_config(ABTestConfig, config_file, overrides) if config_file else parse_config(ABTestConfig, overrides)
        columns, counts = load_events(events)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        _fail(str(error))
    document = decision_document(analyze_events(columns, config), counts)
    write_report(document, out)
    print(f"decision: {document['decision']} — {'; '.join(document['reasons'])}")
    print(f"CTR lift {document['ctr']['lift']:+.2%} [{document['ctr']['ci_low']:+.2%}, {document['ctr']['ci_high']:+.2%}] "
          f"p={document['ctr']['p_value']:.3g} sequential p={document['ctr']['sequential_p_value']:.3g}; "
          f"SRM p={document['srm']['p_value']:.3g}; rows {counts['rows']} (malformed {counts['malformed']})")
    print(f"written: {out / 'decision.json'}")


@contextlib.contextmanager
def _s3_environment(endpoint: str | None, workdir: Path) -> Iterator[str]:
    """Point boto3 at ``endpoint``, or start the embedded S3 server for the duration of the run."""
    saved = dict(os.environ)
    server = None
    try:
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        else:
            server = storage.EmbeddedS3(log_path=workdir / "embedded-s3.log").start()
            os.environ.update(server.env())
        yield os.environ["AWS_ENDPOINT_URL"]
    finally:
        if server:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)


@app.command("run")
def run(
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML RunConfig; flags below win.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="smoke (tiny, fast) or demo (default).")] = None,
    workdir: Annotated[Path, typer.Option(help="Where the run keeps local files and summary.json.")] = Path("runs/demo"),
    s3_endpoint: Annotated[Optional[str], typer.Option(help="Use this S3 endpoint instead of the embedded server.")] = None,
    teacher_model_uri: Annotated[Optional[str], typer.Option(
        help="Reuse a published teacher (e.g. WORKDIR/teacher of an earlier run): skips CPT, SFT, reward model and DPO.")] = None,
) -> None:
    """The main job: the distillation and A/B pipelines under kfp.local on built-in data, artifacts in (embedded) S3."""
    from pipelines.local import run_local

    overrides = {"profile": profile} if profile else {}
    try:
        config = load_config(RunConfig, config_file, overrides) if config_file else parse_config(RunConfig, overrides)
    except ConfigError as error:
        _fail(str(error))
    if teacher_model_uri:
        config.teacher = config.teacher.model_copy(update={"model_uri": teacher_model_uri})
    if config.profile == "smoke" and not config_file:
        config.data = DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=200, corpus_documents=100)
        config.gate = config.gate.model_copy(update={"min_macro_f1": 0.0})
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    with _s3_environment(s3_endpoint or config.storage.endpoint_url, workdir) as endpoint:
        console.print(f"[bold]relevance-distill run[/] profile={config.profile} S3 endpoint={endpoint} workdir={workdir}")
        summary = run_local(config, workdir, run_id,
                            on_stage=lambda s: console.print(f"  [green]done[/] {s['stage']} ({s['seconds']} s): {s['result']}"))
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")

    table = Table(title=f"relevance-distill run {run_id} ({config.profile})", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    teacher = summary["teacher"]["macro_f1"]
    majority = summary["teacher"].get("majority_macro_f1")
    table.add_row("teacher macro-F1", "not measured" if teacher is None else
                  f"{teacher:.4f} (majority class {majority:.4f}, {summary['teacher']['test_pairs']} test pairs)")
    counts = summary["annotation"]
    table.add_row("teacher annotations", f"{counts['annotated']} of {counts['rows_in']} log pairs "
                  f"({counts['quarantined']} quarantined, {counts['shards']} shards): {counts['labels']}")
    for method, result in summary["students"].items():
        table.add_row(f"student {method} macro-F1", f"{result['macro_f1']:.4f}")
    table.add_row("retention (student ÷ teacher macro-F1)",
                  "not measured" if summary["retention"] is None else f"{summary['retention']:.4f}")
    table.add_row("gate", ("PASSED" if summary["gate"]["passed"] else "FAILED") + ": " + "; ".join(summary["gate"]["reasons"]))
    table.add_row("published model", str(summary["model_uri"]))
    if "ab" in summary:
        table.add_row("A/B decision (simulated)", f"{summary['ab']['decision']}: {'; '.join(summary['ab']['reasons'])}")
        table.add_row("canary manifests", summary["gitops_manifests"])
    table.add_row("report", summary["report"])
    table.add_row("wall time", f"{summary['wall_seconds']:.0f} s")
    Console().print(table)
    print(f"summary: {workdir / 'summary.json'}")
    if summary["model_uri"]:
        print(f"serve it: relevance-distill serve --model {workdir / 'model'}")


@app.command("compile")
def compile_command(
    out: Annotated[Path, typer.Option(help="Directory for distillation_pipeline.yaml and ab_analysis_pipeline.yaml.")] = Path("pipelines/compiled"),
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML KubernetesConfig (Secret names, GPUs).")] = None,
) -> None:
    """Compile both pipelines (and every component's component.yaml) for Kubeflow Pipelines."""
    from pipelines.compile import compile_all

    from relevance_distill.config import KubernetesConfig

    try:
        cluster = load_config(KubernetesConfig, config_file) if config_file else KubernetesConfig()
    except ConfigError as error:
        _fail(str(error))
    for path in compile_all(out, cluster):
        print(f"wrote {path}")


@app.command("submit")
def submit_command(
    host: Annotated[str, typer.Option(help="KFP API endpoint, e.g. https://kubeflow.example.com/pipeline.")],
    pipeline: Annotated[Path, typer.Option(help="Compiled pipeline YAML.")] = Path("pipelines/compiled/distillation_pipeline.yaml"),
    params: Annotated[str, typer.Option(help="Pipeline arguments as JSON.")] = "{}",
    experiment: Annotated[str, typer.Option(help="KFP experiment name.")] = "relevance-distill",
    namespace: Annotated[Optional[str], typer.Option(help="Kubeflow profile namespace (multi-user installs).")] = None,
) -> None:
    """Submit a compiled pipeline to a KFP endpoint (auth from the environment, as kfp.Client reads it)."""
    import kfp

    client = kfp.Client(host=host, namespace=namespace)
    run = client.create_run_from_pipeline_package(str(pipeline), arguments=json.loads(params), experiment_name=experiment)
    print(f"submitted run {run.run_id}")


if __name__ == "__main__":
    app()
