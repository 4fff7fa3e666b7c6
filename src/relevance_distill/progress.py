"""Progress of long work, the same way everywhere: a bar on a terminal, otherwise a plain line at a fixed
interval (``kubectl logs`` of a pod has no terminal), and one ``result:`` line when a step ends.

The plain lines are also what ``relevance-distill run`` reads from its tasks' logs to draw its own bars, so
their shape is fixed here::

    progress [train crsd] step 40/100 (40%) loss=0.4100 | 1.3 step/s | elapsed 0:31 | ETA 0:46
    result: crsd best dev macro-F1 0.4625 after 100 steps
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import IO, Any

#: Seconds between plain progress lines; a pod's operator wants a heartbeat, not a flood.
DEFAULT_INTERVAL_SECONDS = 30.0
INTERVAL_ENVIRONMENT = "RELEVANCE_DISTILL_PROGRESS_INTERVAL"
PROGRESS_PATTERN = re.compile(
    r"^progress \[(?P<label>[^\]]+)\] (?P<unit>\S+) (?P<done>\d+)/(?P<total>\d+) \(\d+%\)(?P<figures>[^|]*)"
    r"(?:\|.*ETA (?P<eta>[\d:?]+))?")
RESULT_PREFIX = "result: "


def interval_seconds() -> float:
    value = os.environ.get(INTERVAL_ENVIRONMENT)
    if value is None:
        return DEFAULT_INTERVAL_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"{INTERVAL_ENVIRONMENT}={value!r} is not a number of seconds") from None


def clock(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_figure(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class Progress:
    """Progress of one long step (``with Progress("train crsd", total=100) as progress: progress.update(loss=…)``).

    On a terminal it draws a bar with rate and ETA on ``stream``; elsewhere it writes a plain line when it starts,
    every ``interval`` seconds and when it ends, so a log shows step/total, figures, rate and ETA.
    """

    def __init__(self, label: str, total: int, unit: str = "step", stream: IO[str] | None = None,
                 interval: float | None = None, completed: int = 0, terminal: bool | None = None):
        self.label, self.total, self.unit = label, max(0, int(total)), unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval_seconds() if interval is None else interval
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.completed = self.started_at = completed
        self.figures: dict[str, Any] = {}
        self._began = self._last_line = time.monotonic()
        self._bar: Any = None
        self._bar_task: Any = None

    def __enter__(self) -> Progress:
        if self.terminal:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn(f"{self.label}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[figures]}"), TimeRemainingColumn(),
                            console=Console(file=self.stream), transient=True,
                            redirect_stdout=False, redirect_stderr=False)
            self._bar.start()
            self._bar_task = self._bar.add_task(self.label, total=self.total, completed=self.completed, figures="")
        else:
            self._write_line()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._last_line is not None:
            self._write_line()

    def update(self, advance: int = 1, **figures: Any) -> None:
        self.completed = min(self.total, self.completed + advance) if self.total else self.completed + advance
        self.figures.update(figures)
        if self._bar is not None:
            self._bar.update(self._bar_task, completed=self.completed, figures=self._figures_text())
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval and self.completed < self.total:
            self._write_line()

    def rate(self) -> float:
        elapsed = time.monotonic() - self._began
        done = self.completed - self.started_at
        return done / elapsed if elapsed > 0 and done > 0 else 0.0

    def eta_seconds(self) -> float | None:
        rate = self.rate()
        return (self.total - self.completed) / rate if rate > 0 else None

    def _figures_text(self) -> str:
        return " ".join(f"{name}={_format_figure(value)}" for name, value in self.figures.items())

    def line(self) -> str:
        percent = int(100 * self.completed / self.total) if self.total else 100
        figures = self._figures_text()
        return (f"progress [{self.label}] {self.unit} {self.completed}/{self.total} ({percent}%)"
                f"{' ' + figures if figures else ''} | {self.rate():.2f} {self.unit}/s | "
                f"elapsed {clock(time.monotonic() - self._began)} | ETA {clock(self.eta_seconds())}")

    def _write_line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._last_line = time.monotonic()


def report_result(text: str, stream: IO[str] | None = None) -> None:
    """The one figure that matters when a step ends (rows, loss, macro-F1, decision), on its own line."""
    stream = stream if stream is not None else sys.stderr
    stream.write(f"{RESULT_PREFIX}{text}\n")
    stream.flush()


def hf_trainer_callback(label: str, total_steps: int) -> Any:
    """A ``transformers.TrainerCallback`` that reports a Trainer's steps and loss through :class:`Progress`
    (in place of the Trainer's own printed dictionaries)."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.last_loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress = Progress(label, total_steps, completed=state.global_step).__enter__()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                figures = {} if self.last_loss is None else {"loss": self.last_loss}
                self.progress.update(state.global_step - self.progress.completed, **figures)

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.__exit__(None, None, None)
                self.progress = None

    return ProgressCallback()


def quiet_trainer(trainer: Any, label: str) -> Any:
    """Replace a Trainer's printed log dictionaries by progress lines; returns the trainer."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(hf_trainer_callback(label, trainer.args.max_steps))
    return trainer
