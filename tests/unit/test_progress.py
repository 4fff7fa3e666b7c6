from __future__ import annotations

import io

from relevance_distill.progress import PROGRESS_PATTERN, Progress, report_result


def test_plain_lines_carry_step_total_figures_rate_and_eta():
    stream = io.StringIO()
    with Progress("train crsd", total=5, stream=stream, interval=0, terminal=False) as progress:
        for step in range(5):
            progress.update(loss=1.0 / (step + 1))
    lines = stream.getvalue().splitlines()
    matches = [PROGRESS_PATTERN.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m["done"]) for m in matches] == [0, 1, 2, 3, 4, 5]
    assert all(int(m["total"]) == 5 and m["label"] == "train crsd" for m in matches)
    assert "loss=0.2000" in lines[-1] and "step/s" in lines[-1] and "ETA 0:00" in lines[-1]


def test_a_long_interval_gives_a_start_and_an_end_line_only():
    stream = io.StringIO()
    with Progress("annotate shard 0/2", total=1000, unit="pair", stream=stream, interval=3600, terminal=False) as progress:
        for _ in range(1000):
            progress.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "pair 0/1000" in lines[0] and "pair 1000/1000 (100%)" in lines[1]


def test_resumed_progress_counts_from_the_checkpoint():
    stream = io.StringIO()
    with Progress("train vanilla", total=10, stream=stream, interval=0, terminal=False, completed=6) as progress:
        progress.update()
    assert [int(PROGRESS_PATTERN.match(line)["done"]) for line in stream.getvalue().splitlines()] == [6, 7, 7]


def test_result_line():
    stream = io.StringIO()
    report_result("gate PASSED", stream)
    assert stream.getvalue() == "result: gate PASSED\n"
