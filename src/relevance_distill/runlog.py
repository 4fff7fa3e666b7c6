"""What a person sees while ``relevance-distill run`` works: one line per pipeline task as it starts and ends
(duration and the task's ``result:`` line), a bar with ETA for tasks that report progress when the output is a
terminal (a heartbeat line every few minutes when it is not), and nothing else. Everything the orchestrator,
the components and their libraries print goes to a log file per task under ``WORKDIR/logs/`` (all of it also
to the screen with ``--verbose``).

The local orchestrator (kfp.local) prints task boundaries as log records and streams each task's output with
``print``; this module reads that text, so it needs no import of kfp.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from relevance_distill.progress import PROGRESS_PATTERN, RESULT_PREFIX, clock

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r" - INFO - Executing task '(?P<task>[^']+)'")
_TASK_END = re.compile(r" - (?:INFO|ERROR) - Task '(?P<task>[^']+)' finished with status (?P<status>\w+)")
_TASK_SKIPPED = re.compile(r" - INFO - Skipping (?:conditional )?task (?P<task>\S+?):? (?P<reason>.*)")
_PIPELINE_START = re.compile(r" - INFO - Running pipeline: '(?P<pipeline>[^']+)'")
_PIPELINE_END = re.compile(r" - (?:INFO|ERROR) - Pipeline '(?P<pipeline>[^']+)' finished with status (?P<status>\w+)")
#: Seconds between progress lines echoed from a task's log when the output is not a terminal.
HEARTBEAT_SECONDS = 120.0
#: Progress interval the tasks get when the person watches a terminal (their lines move the bars).
TERMINAL_INTERVAL_SECONDS = 2.0
TAIL_LINES = 15

#: Known causes of a failed run, recognised in the exception and the failing task's log, each with its fix.
KNOWN_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Could not connect to the endpoint URL|EndpointConnectionError|ConnectionRefusedError"),
     "S3 is unreachable: check --s3-endpoint / storage.endpoint_url (leave both unset to use the embedded server)."),
    (re.compile(r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|NoCredentialsError"),
     "S3 credentials are missing or wrong: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for that endpoint."),
    (re.compile(r"MemoryError|OutOfMemoryError|out of memory|exit code -9|exit status 137|Killed"),
     "Out of memory: run a smaller profile (--profile smoke) or lower the batch size or max_length in the config."),
    (re.compile(r"No module named '(?P<module>[\w.]+)'"),
     "A package is missing ({module}): install the project with its extras (`bash scripts/install.sh demo`)."),
    (re.compile(r"Extra inputs are not permitted|extra_forbidden"),
     "A config key is not recognised: check its spelling against the config reference in the README."),
    (re.compile(r"No space left on device"),
     "The disk is full: free space under the workdir and the temporary directory, then run again."),
)


def known_cause(text: str) -> str | None:
    """The one-sentence fix for the first known failure cause found in TEXT, if any."""
    for pattern, fix in KNOWN_FAILURES:
        match = pattern.search(text)
        if match:
            return fix.format(**match.groupdict())
    return None


@dataclass
class TaskRecord:
    pipeline: str
    name: str
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    status: str = "RUNNING"
    result: str | None = None
    progress: str | None = None


class RunConsole:
    """Routes a local pipeline run's output (see the module docstring); ``capture()`` installs it as
    ``sys.stdout``/``sys.stderr`` for the duration of a pipeline call."""

    def __init__(self, log_dir: str | Path, out: IO[str] | None = None, terminal: bool | None = None,
                 verbose: bool = False, heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.out = out if out is not None else sys.stdout
        self.terminal = self.out.isatty() if terminal is None else terminal
        self.verbose = verbose
        self.heartbeat_seconds = heartbeat_seconds
        self.tasks: list[TaskRecord] = []
        self.current: TaskRecord | None = None
        self.pipeline = "main"
        self.main_log_path = self.log_dir / "main.log"
        self._main_log = self.main_log_path.open("a", encoding="utf-8")
        self._task_log: IO[str] | None = None
        self._buffer = ""
        self._lock = threading.RLock()
        self._last_heartbeat = 0.0
        self._bar: Any = None
        self._bar_task: Any = None

    # What the run itself says ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """A line of our own for the person (also kept in main.log)."""
        with self._lock:
            self._main_log.write(text + "\n")
            self._main_log.flush()
            self._print(text)

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    # The stream kfp.local and the tasks write to --------------------------------------------------------------
    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                self._line(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._task_log:
                self._task_log.flush()
            self._main_log.flush()

    def isatty(self) -> bool:
        return False  # what runs inside writes plain lines; the bars are drawn here

    @contextlib.contextmanager
    def capture(self) -> Iterator[RunConsole]:
        saved = sys.stdout, sys.stderr
        stream = _Stream(self)
        sys.stdout = sys.stderr = stream
        try:
            yield self
        except BaseException:
            # kfp.local raises on a failed task without logging its end: the task still open is the one that failed.
            if self.current is not None:
                self._end_task(self.current.name, "FAILED")
            raise
        finally:
            sys.stdout, sys.stderr = saved
            if self._buffer:
                self.write("\n")
            self._stop_bar()

    def close(self) -> None:
        self._stop_bar()
        self._close_task_log()
        self._main_log.close()

    # Parsing -------------------------------------------------------------------------------------------------
    def _line(self, raw: str) -> None:
        line = _ANSI.sub("", raw)
        start = _TASK_START.search(line)
        if start:
            self._start_task(start["task"])
        pipeline_end = _PIPELINE_END.search(line)
        if pipeline_end:
            self._close_task_log()
        # A task's log runs from its start line through kfp's record of its outputs, up to the next task.
        (self._task_log or self._main_log).write(line + "\n")
        if self.verbose:
            self._print(line)
        if start or pipeline_end:
            if pipeline_end:
                self.pipeline = "main"
        elif match := _TASK_END.search(line):
            self._end_task(match["task"], match["status"])
        elif match := _TASK_SKIPPED.search(line):
            self._quiet_print(f"  - {match['task']} skipped: {match['reason'].strip()}")
        elif match := _PIPELINE_START.search(line):
            self.pipeline = match["pipeline"]
            self._quiet_print(f"pipeline {self.pipeline}")
        elif self.current is not None:
            self._task_line(line.strip())

    def _close_task_log(self) -> None:
        if self._task_log is not None:
            self._task_log.close()
            self._task_log = None

    def _quiet_print(self, text: str) -> None:
        if not self.verbose:
            self._print(text)

    def _start_task(self, name: str) -> None:
        number = len(self.tasks) + 1
        path = self.log_dir / self.pipeline / f"{number:02d}-{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.current = TaskRecord(self.pipeline, name, path)
        self.tasks.append(self.current)
        self._close_task_log()
        self._task_log = path.open("w", encoding="utf-8")
        self._last_heartbeat = time.monotonic()
        if self.terminal and not self.verbose:
            self._start_bar(name)
        else:
            self._quiet_print(f"  > {name} started (log: {self._relative(path)})")

    def _end_task(self, name: str, status: str) -> None:
        record = self.current
        if record is None or record.name != name:
            return
        record.seconds = round(time.monotonic() - record.started, 1)
        record.status = status
        if self._task_log:
            self._task_log.flush()
        self.current = None
        self._stop_bar()
        mark = "ok" if status == "SUCCESS" else "FAILED"
        figure = f"  {record.result}" if record.result else ""
        self._quiet_print(f"  {mark:>7} {name} ({clock(record.seconds)}){figure}")

    def _task_line(self, line: str) -> None:
        record = self.current
        if line.startswith(RESULT_PREFIX):
            record.result = line[len(RESULT_PREFIX):]
            return
        match = PROGRESS_PATTERN.match(line)
        if not match:
            return
        record.progress = line
        if self._bar is not None:
            self._bar.update(self._bar_task, total=int(match["total"]), completed=int(match["done"]),
                             figures=f"{match['label']} {match['figures'].strip()}")
        elif time.monotonic() - self._last_heartbeat >= self.heartbeat_seconds:
            self._last_heartbeat = time.monotonic()
            self._quiet_print(f"          {line}")

    # The terminal bar -----------------------------------------------------------------------------------------
    def _start_bar(self, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._stop_bar()
        self._bar = Progress(SpinnerColumn(), TextColumn(name), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[figures]}"), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=Console(file=self.out), transient=True,
                             redirect_stdout=False, redirect_stderr=False)
        self._bar.start()
        self._bar_task = self._bar.add_task(name, total=None, figures="")

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # Reading back --------------------------------------------------------------------------------------------
    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.log_dir))
        except ValueError:
            return str(path)

    def failed_task(self) -> TaskRecord | None:
        return next((task for task in reversed(self.tasks) if task.status not in ("SUCCESS",)), None)

    def failure_report(self, error: BaseException) -> list[str]:
        """Short and actionable: the failing task, the last lines of its log, the log's path and, for a known
        cause, the fix."""
        task = self.failed_task()
        lines = [f"run FAILED: {type(error).__name__}: {_ANSI.sub('', str(error))}"]
        tail = ""
        if task is not None:
            self.flush()
            tail_lines = [line for line in task.log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
            tail = "\n".join(tail_lines[-200:])
            lines.append(f"failing task: {task.name} (pipeline {task.pipeline})")
            lines.append(f"last lines of its log ({task.log_path}):")
            lines.extend(f"  | {line}" for line in tail_lines[-TAIL_LINES:])
        else:
            lines.append(f"log: {self.main_log_path}")
        cause = known_cause(f"{type(error).__name__}: {error}\n{tail}")
        if cause:
            lines.append(f"fix: {cause}")
        return lines

    def failure_log(self, error: BaseException) -> None:
        """The traceback goes to main.log, not to the person's screen."""
        import traceback

        self._main_log.write("".join(traceback.format_exception(error)))
        self._main_log.flush()

    def task_summary(self) -> list[dict[str, Any]]:
        return [{"pipeline": t.pipeline, "task": t.name, "status": t.status, "seconds": t.seconds, "result": t.result,
                 "log": str(t.log_path)} for t in self.tasks]


class _Stream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` during a capture: text goes to the RunConsole line by line."""

    def __init__(self, console: RunConsole):
        self.console = console

    def write(self, text: str) -> int:
        return self.console.write(text)

    def flush(self) -> None:
        self.console.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True
