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
