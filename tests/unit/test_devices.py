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
