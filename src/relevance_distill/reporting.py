"""What a person reads at the end of a run: the summary table of ``relevance-distill run`` (``summary.json`` keeps
everything)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def best_dev_phrase(trained: dict[str, Any]) -> str:
    """A student's best dev checkpoint as every log line and table words it: ``macro-F1 (ordinal) 0.4365`` from a
    training record (records written before the selection decoding was kept lack it)."""
    decoding = f" ({trained['selection_decoding']})" if "selection_decoding" in trained else ""
    return f"macro-F1{decoding} {trained['best_dev_macro_f1']:.4f}"


def test_figures_phrase(macro_f1: float, qwk: float, ci: dict[str, Any] | None) -> str:
    """``macro-F1 0.4146 [0.361, 0.468], QWK 0.5213 [0.402, 0.627]``: test figures with their query-bootstrap
    intervals (evaluation.metrics.query_bootstrap_intervals) where the evaluation computed them."""
    from relevance_distill.evaluation.report import interval_phrase

    return f"macro-F1 {macro_f1:.4f}{interval_phrase(ci, 'macro_f1')}, QWK {qwk:.4f}{interval_phrase(ci, 'qwk')}"


def run_summary_table(summary: dict[str, Any]) -> Table:
    """Teacher, annotations, students, retention, gate, published model, A/B decision, report, wall time."""
    table = Table(title=f"relevance-distill run {summary['run_id']} ({summary['profile']})", show_header=False)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold")
    data = summary.get("data")
    if data:
        table.add_row("data", f"{data['source']} ({data['format']}, labels {data['label_scheme']}): {data['rows_in']} rows in, "
                      f"{data['kept']} kept, {data['quarantined']} quarantined {data['quarantine_reasons']}")
        test = data["test"]
        table.add_row("test set", f"{test['pairs']} pairs from {test['source']}, sha256 {test['fingerprint'][:12]}…; "
                      f"{data['test_query_leaks_removed']} labelled pairs removed for sharing a test query")
        logs = data["unlabeled"]
        table.add_row("pairs to annotate", f"{logs['pairs']} from {logs['source']}"
                      + (f" ({logs['held_out_query_removed']} removed: query in dev/test)" if logs["held_out_query_removed"] else ""))
    teacher = summary["teacher"]
    rationales = teacher.get("rationales")
    if rationales and rationales.get("without_reasoning"):
        table.add_row("rationales", f"{rationales['kept']} kept, {rationales['rejected']} rejected of {rationales['sent']} "
                      f"gold pairs without reasoning {rationales['per_label']}; SFT answers: {rationales['answer_format']}"
                      + (" (too few chains passed: the teacher labels without reasoning)"
                         if rationales["answer_format"] == "label_only" else ""))
    if teacher["macro_f1"] is None:
        table.add_row("teacher macro-F1", "not measured")
    else:
        qwk = f", QWK {teacher['qwk']:.4f}" if teacher.get("qwk") is not None else ""
        table.add_row("teacher macro-F1", f"{teacher['macro_f1']:.4f}{qwk} (majority class {teacher['majority_macro_f1']:.4f}, "
                                          f"{teacher['test_pairs']} test pairs)")
    decision = teacher.get("decision")
    if decision:
        table.add_row("distil from the teacher?", ("yes: " if decision["distil"] else "no: ") + decision["reason"])
    counts = summary["annotation"]
    table.add_row("teacher annotations", "skipped: the teacher was not distilled from (above)" if "skipped" in counts else
                  f"{counts['annotated']} of {counts['rows_in']} pairs "
                  f"({counts['quarantined']} quarantined, {counts['shards']} shards): {counts['labels']}")
    for method, result in summary["students"].items():
        ordinal = (f"; ordinal decoding: {test_figures_phrase(result['ordinal_macro_f1'], result['ordinal_qwk'], result.get('ordinal_ci'))}"
                   if "ordinal_qwk" in result else "")
        trained = result.get("training")
        budget = (f"; trained {trained['epochs']:g} epochs ({trained['steps']} steps, best dev "
                  f"{best_dev_phrase(trained)} at step {trained['best_step']}, stopped: {trained['stop_reason']})" if trained else "")
        queries = (result.get("ci") or {}).get("queries")
        intervals = f" (95 % intervals over {queries} test queries)" if queries else ""
        table.add_row(f"student {method}", f"{test_figures_phrase(result['macro_f1'], result['qwk'], result.get('ci'))}"
                                           f"{ordinal}{intervals}{budget}")
    retention = summary["retention"]
    table.add_row("retention (student ÷ teacher macro-F1)", f"{retention:.4f}" if retention is not None else
                  "not measured: no student learnt from the teacher" if decision and not decision["distil"] else "not measured")
    versus = summary.get("teacher_vs_gold_only")
    table.add_row("teacher beats the gold-only student?",
                  versus["teacher_beats_gold_only"] if versus else "not measured (no teacher labels on the dev pairs)")
    gate = summary["gate"]
    table.add_row(f"gate ({summary.get('gate_decoding', 'argmax')} decoding)", ("PASSED" if gate["passed"] else "FAILED") + ": " + "; ".join(gate["reasons"]))
    published = gate.get("published_method")
    table.add_row("published model", "none" if not summary["model_uri"] else
                  f"{published} ({'the gold-only student: see the gate' if published != gate.get('candidate_method') else 'distilled'}): {summary['model_uri']}")
    if "skipped" in summary.get("ab", {}):
        table.add_row("A/B decision (simulated)", f"skipped: {summary['ab']['skipped'].split(':')[0]}")
        table.add_row("canary manifests", summary["gitops_manifests"])
    elif "ab" in summary:
        table.add_row("A/B decision (simulated)", f"{summary['ab']['decision']}: {'; '.join(summary['ab']['reasons'])}")
        table.add_row("canary manifests", summary["gitops_manifests"])
    table.add_row("report", summary["report"])
    if "logs" in summary:
        table.add_row("logs (one file per task)", summary["logs"])
    if "wall_seconds" in summary:
        table.add_row("wall time", f"{summary['wall_seconds']:.0f} s")
    return table
