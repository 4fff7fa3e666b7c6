"""`relevance-distill abtest simulate | analyze`: A/B traffic and canary analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from relevance_distill import storage
from relevance_distill.cli.common import abtest_app, fail, read_pairs
from relevance_distill.config import (
    ConfigError,
    DataGenerationConfig,
    load_config,
    parse_config,
)


def _builtin_pool(seed: int, stable_scores: Optional[str] = None, canary_scores: Optional[str] = None):
    import tempfile

    from relevance_distill.builtin_world.generate import generate_dataset
    from relevance_distill.data.readers import iter_jsonl
    from relevance_distill.rollout.simulate import QueryPool
    from relevance_distill.schemas import get_label_scheme

    def scores(uri: Optional[str]):
        return {row["pair_id"]: float(row["score"]) for _, row in iter_jsonl(uri)} if uri else None

    with tempfile.TemporaryDirectory() as directory:
        generate_dataset(DataGenerationConfig(seed=seed, num_log_pairs=0, corpus_documents=0), directory)
        pairs = read_pairs(str(Path(directory) / "labeled.jsonl"))
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
        fail(f"--split must be in (0, 1), got {split}")
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
    alpha: Annotated[Optional[float], typer.Option(help="Significance level (default 0.05).")] = None,
    expected_split: Annotated[Optional[float], typer.Option(help="Configured canary share, never read from the log (default 0.5).")] = None,
    primary_metric: Annotated[Optional[str], typer.Option(help="ctr (default), cvr or gtv: the metric that decides promotion.")] = None,
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML ABTestConfig; flags win.")] = None,
    canary_version: Annotated[Optional[str], typer.Option(
        help="EVENTS is the event sink's prefix (part-*.jsonl); responses naming this model version are the canary.")] = None,
    outcomes: Annotated[Optional[str], typer.Option(
        help="With --canary-version: JSONL/Parquet {request_id, click, order, gtv} from your click log.")] = None,
) -> None:
    """Analyse an experiment: SRM, lifts with CIs, fixed and sequential tests, guardrails, decision."""
    from relevance_distill.rollout.abtest import (
        ABTestConfig,
        analyze_events,
        decision_document,
        load_experiment,
        write_report,
    )

    try:
        given = {"alpha": alpha, "expected_split": expected_split, "primary_metric": primary_metric}
        overrides = {key: value for key, value in given.items() if value is not None}
        config = load_config(ABTestConfig, config_file, overrides) if config_file else parse_config(ABTestConfig, overrides)
        if outcomes and not canary_version:
            raise ValueError("--outcomes joins the event sink's log: give --canary-version too")
        columns, counts = load_experiment(events, canary_version or "", outcomes or "")
    except (ConfigError, FileNotFoundError, ValueError) as error:
        fail(str(error))
    document = decision_document(analyze_events(columns, config), counts)
    write_report(document, out)
    print(f"decision: {document['decision']} — {'; '.join(document['reasons'])}")
    print(f"CTR lift {document['ctr']['lift']:+.2%} [{document['ctr']['ci_low']:+.2%}, {document['ctr']['ci_high']:+.2%}] "
          f"p={document['ctr']['p_value']:.3g} sequential p={document['ctr']['sequential_p_value']:.3g}; "
          f"SRM p={document['srm']['p_value']:.3g}; rows {counts['rows']} (malformed {counts['malformed']}); "
          f"users in both arms {document['users_in_both_arms']['users']} (left out)")
    print(f"written: {out / 'decision.json'}")




@abtest_app.command("sink")
def abtest_sink(
    events_uri: Annotated[str, typer.Option(help="Where the part files go: s3://bucket/prefix or a directory.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    flush_seconds: Annotated[Optional[float], typer.Option(help="Write waiting events at least this often (default 10).")] = None,
    flush_events: Annotated[Optional[int], typer.Option(help="... or once this many wait (default 1000).")] = None,
) -> None:
    """Receive KServe's request-logger CloudEvents over HTTP and write them to EVENTS_URI as JSON lines (what
    `abtest analyze --canary-version` reads). SIGTERM writes what waits, then stops."""
    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.events import EventSinkConfig, serve

    try:
        config = config_from_arguments(EventSinkConfig, events_uri=events_uri, flush_seconds=flush_seconds,
                                       flush_events=flush_events)
    except (ConfigError, ValueError) as error:
        fail(str(error))
    serve(config, host, port)
