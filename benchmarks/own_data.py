"""The README's own-data commands, run as a user runs them, with what each published and how long it took.

    python benchmarks/own_data.py --json benchmarks/results/own_data.json [--only crowdflower,qbqtc]
    python benchmarks/own_data.py --json benchmarks/results/own_data_examples.json --only crowdflower-kaggle

Each dataset's command is ``relevance-distill run --labeled FILE --format FORMAT`` with no other flag (the README's),
in its own work directory; an example's is ``relevance-distill run --config examples/NAME.yaml`` (docs/own-data.md).
The result file keeps one entry per dataset with its own provenance, so the datasets can be measured one at a time
(``--only``) and the file still holds both: rows in / kept / quarantined, the test set's fingerprint, every
student's macro-F1 and QWK under argmax and ordinal decoding with its training budget, the teacher's figures and
whether the run distilled from it, what was published, and the wall time of every task. Prints the README's table
(a test compares it with the README).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# The README's own-data commands: dataset -> (labelled file under ../shared/data, format).
COMMANDS = {"crowdflower": ("crowdflower/train.csv.zip", "crowdflower"), "qbqtc": ("qbqtc/dev.json", "qbqtc")}
# The documented example configs over the same files: name -> the dataset whose file it reads (its config names it).
EXAMPLES = {"crowdflower-kaggle": "crowdflower"}


def example_config(example: str) -> str:
    """The config file of one of EXAMPLES, relative to the repository root."""
    return f"examples/{example}.yaml"


def command_for(dataset: str, workdir: Path) -> list[str]:
    if dataset in EXAMPLES:
        return ["relevance-distill", "run", "--config", example_config(dataset), "--workdir", str(workdir)]
    path, input_format = COMMANDS[dataset]
    return ["relevance-distill", "run", "--labeled", f"../shared/data/{path}", "--format", input_format,
            "--workdir", str(workdir)]


def command_label(dataset: str) -> str:
    """How a table names the command of DATASET (a README command's format flag, or an example's config)."""
    return f"`--config {example_config(dataset)}`" if dataset in EXAMPLES else f"`--format {COMMANDS[dataset][1]}`"


def entry_from_summary(summary: dict, wall_seconds: float) -> dict:
    """What the result file keeps of a run's summary.json."""
    data, gate = summary["data"], summary["gate"]
    teacher = summary["teacher"]
    return {
        "rows": {"in": data["rows_in"], "kept": data["kept"], "quarantined": data["quarantined"],
                 "quarantine_reasons": data["quarantine_reasons"]},
        "test": {"pairs": data["test"]["pairs"], "fingerprint": data["test"]["fingerprint"]},
        "teacher": {"test_macro_f1": teacher["macro_f1"], "majority_macro_f1": teacher["majority_macro_f1"],
                    "distilled_from": teacher["decision"]["distil"], "decision": teacher["decision"]["reason"]},
        "students": {method: {"argmax": {"macro_f1": result["macro_f1"], "qwk": result["qwk"],
                                         **({"ci": result["ci"]} if "ci" in result else {})},
                              "ordinal": ({"macro_f1": result["ordinal_macro_f1"], "qwk": result["ordinal_qwk"],
                                           **({"ci": result["ordinal_ci"]} if "ordinal_ci" in result else {})}
                                          if "ordinal_qwk" in result else None),
                              "training": result.get("training")}
                     for method, result in summary["students"].items()},
        "gate": {"passed": gate["passed"], "decoding": summary.get("gate_decoding"), "reasons": gate["reasons"]},
        "published": gate.get("published_method") if summary["model_uri"] else None,
        "wall_seconds": round(wall_seconds, 1),
        "tasks": {task["task"]: task["seconds"] for task in summary.get("tasks", [])},
    }


def published_figures(entry: dict) -> tuple[str, str, dict] | None:
    """The published student of a result entry, the decoding it was gated and served with, and its test figures
    under that decoding (argmax where the entry has no ordinal figures); None when nothing was published."""
    published = entry["published"]
    if not published:
        return None
    decoding = entry["gate"]["decoding"] or "argmax"
    return published, decoding, entry["students"][published][decoding] or entry["students"][published]["argmax"]


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--json (a result file whose other datasets' entries are kept) and --only (which of COMMANDS to measure)."""
    parser.add_argument("--json", type=Path, required=True, help="Result file (entries of other datasets are kept).")
    parser.add_argument("--only", default=",".join(COMMANDS),
                        help=f"Comma-separated datasets of {sorted(COMMANDS)} or examples of {sorted(EXAMPLES)}.")


def selected_datasets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[list[str], dict]:
    """The datasets --only names (an unknown one is a usage error) and the --json document to add them to."""
    datasets = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(datasets) - set(COMMANDS) - set(EXAMPLES))
    if unknown:
        parser.error(f"unknown datasets {unknown}; allowed: {sorted(COMMANDS)} and the examples {sorted(EXAMPLES)}")
    document = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {"datasets": {}}
    return datasets, document


def load_splits(dataset: str, directory: Path) -> tuple[dict[str, list], object, dict]:
    """The main job's train/dev/test pairs of DATASET, its label scheme and prepare's summary."""
    from relevance_distill.config import DEFAULT_SCHEME_FOR_FORMAT, PrepareDataConfig
    from relevance_distill.data.prepare import prepare_dataset
    from relevance_distill.schemas import QueryServicePair

    path, input_format = COMMANDS[dataset]
    config = PrepareDataConfig(input_format=input_format, label_scheme=DEFAULT_SCHEME_FOR_FORMAT[input_format])
    summary = prepare_dataset(str(SHARED_DATA / path), str(directory), config)
    splits = {name: [QueryServicePair.model_validate_json(line)
                     for line in (directory / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
              for name in ("train", "dev", "test")}
    return splits, config.resolved_label_scheme(), summary


def require_shared_file(dataset: str) -> None:
    """Exit with the missing path when DATASET's (or the example's) labelled file is not under ../shared/data."""
    path = SHARED_DATA / COMMANDS[EXAMPLES.get(dataset, dataset)][0]
    if not path.is_file():
        sys.exit(f"{path} is missing: the shared datasets are needed")


def with_interval(value: float, interval: list[float] | None) -> str:
    """``0.450 (0.386–0.511)``: a figure and its 95 % interval as the own-data tables print them (the figure alone
    where none was recorded)."""
    return f"{value:.3f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")


def markdown_table(document: dict) -> str:
    """The README's own-data table for a result file."""
    lines = ["| data (command) | rows in / kept / quarantined | test pairs | teacher | published student | "
             "test macro-F1 (95 % CI) | test QWK (95 % CI) | run time | machine |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, entry in document["datasets"].items():
        rows, served = entry["rows"], published_figures(entry)
        if served:
            published, decoding, figures = served
            trained = entry["students"][published]["training"] or {}
            student = (f"{published}, {decoding} decoding ({trained.get('epochs', '?')} epochs, "
                       f"stopped: {trained.get('stop_reason', '?')})")
            ci = figures.get("ci") or {}
            macro_f1, qwk = (with_interval(figures[name], ci.get(name)) for name in ("macro_f1", "qwk"))
        else:
            student, macro_f1, qwk = "none: " + "; ".join(entry["gate"]["reasons"]), "–", "–"
        teacher = entry["teacher"]
        used = "distilled from" if teacher["distilled_from"] else "skipped"
        lines.append(f"| {dataset} ({command_label(dataset)}) | {rows['in']:,} / {rows['kept']:,} / "
                     f"{rows['quarantined']:,} | {entry['test']['pairs']:,} | macro-F1 {teacher['test_macro_f1']:.3f} "
                     f"(majority class {teacher['majority_macro_f1']:.3f}): {used} | {student} | {macro_f1} | {qwk} | "
                     f"{entry['wall_seconds'] / 60:.1f} min | {entry['provenance']['machine']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_arguments(parser)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "own-data")
    args = parser.parse_args()
    datasets, document = selected_datasets(parser, args)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import provenance

    for dataset in datasets:
        require_shared_file(dataset)
        workdir = args.workdir / dataset
        command = command_for(dataset, workdir)
        executable = str(Path(sys.executable).parent / command[0])
        print(f"{dataset}: {shlex.join(command)}", flush=True)
        # Where the run starts from (the commit it ran, the tree's state then): a later commit must not claim it.
        record = {**provenance(), "command": shlex.join(command)}
        started = time.monotonic()
        subprocess.run([executable, *command[1:]], cwd=ROOT, check=True)
        wall = time.monotonic() - started
        summary = json.loads((workdir / "summary.json").read_text(encoding="utf-8"))
        record["test_set_sha256"] = summary["test_set_sha256"]
        document["datasets"][dataset] = {**entry_from_summary(summary, wall), "provenance": record}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    print(markdown_table(document))


if __name__ == "__main__":
    main()
