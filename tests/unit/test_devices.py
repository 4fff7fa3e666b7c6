"""A step the compiled pipeline gave GPUs fails at once, naming the fix, when torch cannot see them; `auto` says which
device it chose. (This machine has no GPU, so every GPU request here is one torch cannot satisfy.)"""

from __future__ import annotations

import pytest
import torch

from relevance_distill.devices import (
    GPUS_ENVIRONMENT,
    GPUUnavailable,
    choose_device,
    requested_gpus,
    require_gpus,
)

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="these tests need a machine without a GPU")


def test_a_step_given_gpus_fails_at_once_and_names_the_fix(monkeypatch):
    monkeypatch.setenv(GPUS_ENVIRONMENT, "2")
    assert requested_gpus() == 2
    with pytest.raises(GPUUnavailable, match=r"teacher sft was given 2 GPU\(s\) but torch sees 0 .*CPU-only build.*"
                                             r"make images VARIANT=cuda"):
        require_gpus("teacher sft")


def test_auto_says_which_device_it_chose_and_cuda_without_one_fails(monkeypatch, capsys):
    monkeypatch.delenv(GPUS_ENVIRONMENT, raising=False)
    assert choose_device("auto", "student training").type == "cpu"
    assert "student training: device cpu (no CUDA device visible" in capsys.readouterr().out
    with pytest.raises(GPUUnavailable, match="was given 1 GPU"):
        choose_device("cuda", "student training")
    with pytest.raises(ValueError, match=r"device 'tpu'; allowed: \['auto', 'cpu', 'cuda'\]"):
        choose_device("tpu", "student training")
    monkeypatch.setenv(GPUS_ENVIRONMENT, "two")
    with pytest.raises(GPUUnavailable, match="not a whole number"):
        requested_gpus()


def test_every_gpu_step_fails_before_training_when_its_gpus_are_missing(monkeypatch, tmp_path):
    """The teacher's training arguments, the student trainer, the reward model and the engines all ask first."""
    from relevance_distill.config import EngineConfig, student_config_for
    from relevance_distill.llm.engines import TransformersEngine
    from relevance_distill.student.train import resolve_device
    from relevance_distill.teacher.common import TeacherTrainConfig

    monkeypatch.setenv(GPUS_ENVIRONMENT, "1")
    with pytest.raises(GPUUnavailable, match="teacher training"):
        TeacherTrainConfig().training_arguments(tmp_path)
    with pytest.raises(GPUUnavailable, match="student training"):
        resolve_device(student_config_for("smoke").device)
    with pytest.raises(GPUUnavailable, match="transformers engine"):
        TransformersEngine(str(tmp_path / "no-model"), EngineConfig())
    monkeypatch.delenv(GPUS_ENVIRONMENT)
    with pytest.raises(GPUUnavailable, match="teacher training was given 1 GPU"):  # the config's own 'cuda'
        TeacherTrainConfig(device="cuda").training_arguments(tmp_path)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_cgroup_cpu_limit_is_read_in_v2_and_v1_the_tightest_on_the_way_to_the_root(tmp_path):
    """A pod's resources.limits.cpu reaches the process as a CFS quota: cgroup v2's cpu.max or v1's
    cpu.cfs_quota_us / cpu.cfs_period_us (files laid out as the kernel mounts them)."""
    from relevance_distill.devices import cgroup_cpu_limit, container_cpus

    v2 = tmp_path / "v2"
    _write(v2 / "kubepods" / "cpu.max", "400000 100000\n")
    _write(v2 / "kubepods" / "pod-a" / "cpu.max", "150000 100000\n")
    _write(v2 / "kubepods" / "pod-b" / "cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(v2, "0::/kubepods/pod-a\n") == 1.5
    assert cgroup_cpu_limit(v2, "0::/kubepods/pod-b\n") == 4.0  # unlimited itself, limited above
    assert cgroup_cpu_limit(v2, "0::/\n") is None  # a container's own namespace: the mount is its cgroup
    _write(v2 / "cpu.max", "50000 100000\n")
    assert cgroup_cpu_limit(v2, "0::/\n") == 0.5
    assert container_cpus(v2, "0::/\n") == 1  # at least one CPU

    v1 = tmp_path / "v1"
    _write(v1 / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    _write(v1 / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "100000\n")
    _write(v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    membership = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"
    assert cgroup_cpu_limit(v1, membership) == 1.0
    assert container_cpus(v1, membership) == 1
    assert cgroup_cpu_limit(v1, "4:cpu,cpuacct:/\n") is None  # quota -1: no limit
    assert cgroup_cpu_limit(tmp_path / "absent", "4:cpu,cpuacct:/x\n0::/x\n") is None


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_threads_are_fitted_to_the_container_and_shared_among_local_processes(monkeypatch, capsys, torch_threads):
    from relevance_distill.devices import container_cpus, fit_cpu_threads

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    cpus = container_cpus()
    torch.set_num_threads(cpus + 2)  # what torch starts with on a node larger than the pod's limit
    assert fit_cpu_threads("student training") == cpus == torch.get_num_threads()
    assert f"student training: {cpus} CPU thread(s), not torch's {cpus + 2}" in capsys.readouterr().out

    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(2 * cpus))  # torchrun's processes on this node share the CPUs
    assert fit_cpu_threads("teacher training") == 1 == torch.get_num_threads()
    assert f"shared by {2 * cpus} processes" in capsys.readouterr().out

    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert fit_cpu_threads("student evaluation") == 1  # a smaller count someone chose is kept, silently
    assert capsys.readouterr().out == ""
    assert fit_cpu_threads("student evaluation", cpus + 1) == cpus + 1 == torch.get_num_threads()  # a count given wins


# A child process: malloc's settings hold for a process's life. It allocates 64 MiB through libc's malloc and
# reports the bytes glibc mapped for it (mallinfo2's hblkhd) and the bytes kept free in its heap after free().
_ALLOCATION_PROBE = """
import ctypes, json, sys
from relevance_distill.devices import choose_device

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
choose_device("cpu", "probe")
before = libc.mallinfo2()
block = libc.malloc(64 << 20)
ctypes.memset(block, 1, 64 << 20)
during = libc.mallinfo2()
libc.free(block)
after = libc.mallinfo2()
print(json.dumps({"mapped": during.hblkhd - before.hblkhd, "kept_free": after.fordblks}))
"""


def _probe(monkeypatch, **environment: str) -> dict:
    import json
    import subprocess
    import sys

    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD",
                 "RELEVANCE_DISTILL_KEEP_FREED_MEMORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    done = subprocess.run([sys.executable, "-c", _ALLOCATION_PROBE], capture_output=True, text=True, check=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]),
            "said": "probe: freed memory is kept for the next allocations" in done.stdout}


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc's malloc settings")
def test_a_cpu_step_keeps_freed_memory_for_its_next_allocations_unless_told_otherwise(monkeypatch):
    kept = _probe(monkeypatch)
    assert kept["mapped"] == 0 and kept["kept_free"] >= 64 << 20  # served from the heap, kept after free()
    assert kept["said"]  # the log says so, and how to turn it off
    for opt_out in ({"RELEVANCE_DISTILL_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}):
        default = _probe(monkeypatch, **opt_out)  # glibc's default: mapped for the allocation, handed back after it
        assert default["mapped"] >= 64 << 20 and default["kept_free"] < 64 << 20, opt_out
        assert not default["said"]
