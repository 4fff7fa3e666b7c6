"""Under a real cgroup CPU limit the trainer fits its threads to the limit (benchmarks/cpu_threads.py, run here for
one step each way); skipped where this process cannot make cgroups (not root, or a read-only cgroup mount)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _can_make_cgroups() -> bool:
    for parent in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpu,cpuacct")):
        probe = parent / f"relevance-distill-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
            return True
        except OSError:
            continue
    return False


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or not _can_make_cgroups(),
                    reason="needs two CPUs and a writable cgroup mount (root)")
def test_a_step_under_a_one_cpu_limit_trains_with_one_thread_and_the_cgroup_is_removed(tmp_path):
    out = tmp_path / "cpu_threads.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cpu_threads.py"), "--cpus", "1", "--steps", "1",
                    "--json", str(out)], check=True, cwd=ROOT, timeout=600)
    document = json.loads(out.read_text())
    visible = len(os.sched_getaffinity(0))
    assert document["runs"]["unfitted"]["threads"] == visible
    assert document["runs"]["fitted"]["threads"] == 1
    assert document["runs"]["fitted"]["cgroup_cpu_limit"] == 1.0
    assert not [p for p in Path("/sys/fs/cgroup").rglob("relevance-distill-cpu-threads-*")]


def test_the_docs_row_is_the_result_files(cpu_threads):
    document = json.loads((ROOT / "benchmarks" / "results" / "cpu_threads.json").read_text())
    assert document["runs"]["fitted"]["threads"] < document["runs"]["unfitted"]["threads"]
    assert cpu_threads.markdown_row(document) in (ROOT / "docs" / "benchmarks.md").read_text()
