"""What every command group shares: the Typer apps, the console, failures that name the fix, small readers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.progress import (
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from relevance_distill import storage

app = typer.Typer(help="Distil a reasoning LLM into a fast BERT relevance model (arXiv 2510.11056).", no_args_is_help=True)
data_app = typer.Typer(help="Generate, validate, split and describe query-service relevance data.", no_args_is_help=True)
abtest_app = typer.Typer(help="Simulate A/B traffic and analyse canary experiments.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(abtest_app, name="abtest")
console = Console(stderr=True)

FORMATS = ["jsonl", "crowdflower", "esci", "qbqtc"]


def fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def row_progress(description: str) -> Iterator[callable]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda: progress.advance(task)


def print_counts(title: str, counts: dict[str, object]) -> None:
    table = Table(title=title, show_header=False)
    for key, value in counts.items():
        table.add_row(str(key), json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    Console().print(table)


def read_pairs(uri: str):
    from relevance_distill.data.readers import read_models
    from relevance_distill.schemas import QueryServicePair

    return read_models(uri, QueryServicePair)


def scheme_from(name_or_file: str | None):
    """A label scheme from a built-in name or a label_scheme.json; None is the default scheme."""
    from relevance_distill.config import label_scheme_named
    from relevance_distill.schemas import LabelScheme

    if name_or_file and name_or_file.endswith(".json"):
        return LabelScheme.model_validate_json(storage.read_text(name_or_file))
    return label_scheme_named(name_or_file)
