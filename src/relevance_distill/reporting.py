"""What a person reads at the end of a run: the summary table of ``relevance-distill run`` (``summary.json`` keeps
everything)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def run_summary_table(summary: dict[str, Any]) -> Table:
    """Teacher, annotations, students, retention, gate, published model, A/B decision, report, wall time."""
    table = Table(title=f"relevance-distill run {summary['run_id']} ({summary['profile']})", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    teacher = summary["teacher"]
    if teacher["macro_f1"] is None:
        table.add_row("teacher macro-F1", "not measured")
    else:
        table.add_row("teacher macro-F1", f"{teacher['macro_f1']:.4f} (majority class {teacher['majority_macro_f1']:.4f}, "
                                          f"{teacher['test_pairs']} test pairs)")
    counts = summary["annotation"]
    table.add_row("teacher annotations", f"{counts['annotated']} of {counts['rows_in']} log pairs "
                  f"({counts['quarantined']} quarantined, {counts['shards']} shards): {counts['labels']}")
    for method, result in summary["students"].items():
        table.add_row(f"student {method}", f"macro-F1 {result['macro_f1']:.4f}, QWK {result['qwk']:.4f}")
    retention = summary["retention"]
    table.add_row("retention (student ÷ teacher macro-F1)", "not measured" if retention is None else f"{retention:.4f}")
    gate = summary["gate"]
    table.add_row("gate", ("PASSED" if gate["passed"] else "FAILED") + ": " + "; ".join(gate["reasons"]))
    table.add_row("published model", str(summary["model_uri"]))
    if "ab" in summary:
        table.add_row("A/B decision (simulated)", f"{summary['ab']['decision']}: {'; '.join(summary['ab']['reasons'])}")
        table.add_row("canary manifests", summary["gitops_manifests"])
    table.add_row("report", summary["report"])
    if "logs" in summary:
        table.add_row("logs (one file per task)", summary["logs"])
    if "wall_seconds" in summary:
        table.add_row("wall time", f"{summary['wall_seconds']:.0f} s")
    return table
