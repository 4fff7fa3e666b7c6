"""The main job's console against real kfp.local output: task lines, per-task logs, failure reports."""


import io

import kfp.local
import pytest
from kfp import dsl

from relevance_distill.runlog import RunConsole, known_cause


@dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
def counted_work(steps: int) -> int:
    from relevance_distill.progress import Progress, report_result

    print("library chatter that only the task's log should keep")
    with Progress("count", steps, interval=0) as progress:
        for _ in range(steps):
            progress.update(loss=0.5)
    report_result(f"counted {steps} steps")
    return steps


@dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
def needs_missing_package(steps: int) -> int:
    import relevance_distill_no_such_extra  # noqa: F401

    return steps


@dsl.pipeline(name="runlog-ok")
def ok_pipeline(steps: int = 4) -> int:
    first = counted_work(steps=steps)
    return counted_work(steps=first.output).output


@dsl.pipeline(name="runlog-fails")
def failing_pipeline(steps: int = 4):
    needs_missing_package(steps=counted_work(steps=steps).output)


@pytest.fixture()
def local_kfp(tmp_path):
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"),
                   raise_on_error=True)


def test_one_line_per_task_start_and_end_with_its_result_and_a_log_per_task(tmp_path, local_kfp):
    out = io.StringIO()
    console = RunConsole(tmp_path / "logs", out=out, terminal=False)
    with console.capture():
        ok_pipeline(steps=4)
    console.close()
    shown = out.getvalue().splitlines()
    assert shown[0] == "pipeline runlog-ok"
    assert [line.split()[0] for line in shown[1:]] == [">", "ok", ">", "ok"], shown
    assert shown[2].split()[1] == "counted-work" and shown[2].endswith("counted 4 steps") and "(0:" in shown[2]
    assert not any("chatter" in line or "KFP Executor" in line for line in shown)
    logs = sorted((tmp_path / "logs" / "runlog-ok").iterdir())
    assert [path.name for path in logs] == ["01-counted-work.log", "02-counted-work-2.log"]
    first_log = logs[0].read_text()
    assert "library chatter" in first_log and "progress [count] step 4/4" in first_log
    assert "Task 'counted-work' outputs" in first_log  # kfp's record of the outputs stays with its task
    assert [task["status"] for task in console.task_summary()] == ["SUCCESS", "SUCCESS"]


def test_verbose_prints_everything(tmp_path, local_kfp):
    out = io.StringIO()
    console = RunConsole(tmp_path / "logs", out=out, terminal=False, verbose=True)
    with console.capture():
        ok_pipeline(steps=2)
    console.close()
    assert "library chatter" in out.getvalue() and "progress [count] step 2/2" in out.getvalue()


def test_a_failure_names_the_task_its_log_tail_and_the_fix(tmp_path, local_kfp):
    out = io.StringIO()
    console = RunConsole(tmp_path / "logs", out=out, terminal=False)
    with pytest.raises(RuntimeError) as failure:
        with console.capture():
            failing_pipeline(steps=2)
    report = "\n".join(console.failure_report(failure.value))
    console.close()
    assert "failing task: needs-missing-package" in report
    assert "No module named 'relevance_distill_no_such_extra'" in report  # from the log's last lines
    assert "fix: A package is missing (relevance_distill_no_such_extra)" in report
    assert str(tmp_path / "logs" / "runlog-fails" / "02-needs-missing-package.log") in report
    assert "FAILED needs-missing-package" in out.getvalue()


def test_known_causes():
    assert "S3 is unreachable" in known_cause("botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL")
    assert "Out of memory" in known_cause("Task exited with exit code -9")
    assert "config key" in known_cause("teacher.foo\n  Extra inputs are not permitted")
    assert known_cause("ValueError: something new") is None
