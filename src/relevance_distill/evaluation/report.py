"""HTML evaluation report with PNG plots: confusion matrix, per-class F1 by method, training curves.

The HTML embeds every plot as a data URI, so it is one self-contained file (what a KFP ``HTML`` artifact
shows); the PNGs are also written beside it.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(confusion: dict[str, Any], title: str, path: Path) -> Path:
    plt = _figure()
    labels, matrix = confusion["labels"], confusion["matrix"]
    figure, axis = plt.subplots(figsize=(5, 4.2))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axis.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    axis.set_title(title)
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_per_class_f1(results: dict[str, dict[str, Any]], path: Path) -> Path:
    plt = _figure()
    methods = list(results)
    labels = list(next(iter(results.values()))["test"]["per_class"])
    width = 0.8 / max(len(methods), 1)
    figure, axis = plt.subplots(figsize=(7, 4))
    for offset, method in enumerate(methods):
        values = [results[method]["test"]["per_class"][label]["f1"] for label in labels]
        axis.bar([i + offset * width for i in range(len(labels))], values, width, label=method)
    axis.set_xticks([i + width * (len(methods) - 1) / 2 for i in range(len(labels))], labels)
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1 (test)")
    axis.legend(fontsize=8)
    axis.set_title("Per-class F1 by method")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_training_curves(histories: dict[str, dict[str, Any]], path: Path) -> Path:
    plt = _figure()
    figure, (loss_axis, f1_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    for method, history in histories.items():
        steps = [s["step"] for s in history["steps"]]
        # The total loss differs in scale between methods; the standard-view CE is comparable across all.
        key = "ce" if "ce" in history["steps"][0] else "loss"
        loss_axis.plot(steps, [s[key] for s in history["steps"]], label=method, linewidth=0.9)
        f1_axis.plot([e["step"] for e in history["evals"]], [e["dev_macro_f1"] for e in history["evals"]],
                     marker="o", label=method)
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("standard-view loss")
    f1_axis.set_xlabel("step")
    f1_axis.set_ylabel("dev macro-F1")
    loss_axis.legend(fontsize=8)
    f1_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def interval_phrase(ci: dict[str, Any] | None, metric: str) -> str:
    """`` [low, high]`` of METRIC's query-bootstrap interval (``ci``), or nothing where the evaluation has none: how
    the report and the run's summary table print it."""
    return f" [{ci[metric][0]:.3f}, {ci[metric][1]:.3f}]" if ci and metric in ci else ""


def write_report(results: dict[str, dict[str, Any]], histories: dict[str, dict[str, Any]], out_dir: str | Path,
                 primary: str, title: str = "relevance-distill student report") -> Path:
    """``results``: method -> metrics.json document; ``histories``: method -> history.json document."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    primary = primary if primary in results else next(iter(results))
    plots = [plot_confusion_matrix(results[primary]["test"]["confusion_matrix"], f"{primary}: confusion matrix (test)",
                                   out / "confusion_matrix.png"),
             plot_per_class_f1(results, out / "per_class_f1.png")]
    if histories:
        plots.append(plot_training_curves(histories, out / "training_curves.png"))
    columns = ["macro_f1", "accuracy", "qwk", "roc_auc_relevant", "ndcg_at_10"]
    rows = []
    for method, metrics in results.items():
        test = metrics["test"]
        cells = [_fmt(test.get(c)) + interval_phrase(test.get("ci"), c) for c in columns]
        ordinal = test.get("ordinal") or {}
        cells += [_fmt(ordinal.get(c)) + interval_phrase(ordinal.get("ci"), c) for c in ("macro_f1", "qwk")]
        cells.append(_fmt(metrics.get("retention")))
        cells.append(_fmt(metrics.get("latency", {}).get("p99_ms")))
        rows.append(f"<tr><td>{html.escape(method)}</td>{''.join(f'<td>{c}</td>' for c in cells)}</tr>")
    queries = (results[primary]["test"].get("ci") or {}).get("queries")
    intervals = f"<p>Brackets: 95 % intervals from resampling whole test queries ({queries} queries).</p>\n" if queries else ""
    document = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>Test set: {results[primary]['test']['count']} gold pairs (sha256 {html.escape(str(results[primary].get('test_set_sha256', ''))[:12])}).
Primary model: <b>{html.escape(primary)}</b>.</p>
{intervals}<table><tr><th>method</th>{''.join(f'<th>{c}</th>' for c in columns)}<th>ordinal macro_f1</th><th>ordinal qwk</th><th>retention</th><th>p99 ms (1×50)</th></tr>
{''.join(rows)}</table>
{''.join(_image(p) for p in plots)}
<h2>Raw metrics</h2><pre>{html.escape(json.dumps(results, indent=1)[:200000])}</pre>
</body></html>"""
    path = out / "report.html"
    path.write_text(document, encoding="utf-8")
    return path
