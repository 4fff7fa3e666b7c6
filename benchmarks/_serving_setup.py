"""Shared set-up for the serving benchmarks: an exported MiniLM-sized student and a running model server."""

from __future__ import annotations

import tempfile
from pathlib import Path

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, student_config_for
from relevance_distill.data.readers import read_models
from relevance_distill.schemas import QueryServicePair, get_label_scheme


def sample_pairs(count: int = 400) -> list[QueryServicePair]:
    with tempfile.TemporaryDirectory() as directory:
        generate_dataset(DataGenerationConfig(num_services=300, num_queries=max(5, count // 8), num_log_pairs=0,
                                              corpus_documents=0), directory)
        return read_models(str(Path(directory) / "labeled.jsonl"), QueryServicePair)


def export_benchmark_model(work: Path, init: str = "minilm") -> Path:
    """A student of the production architecture (MiniLM unless told otherwise), exported with ONNX.

    Throughput depends on the architecture and sequence length, not on how well the head is trained, so a
    one-step training run is enough and keeps the benchmark short.
    """
    from relevance_distill.export import ExportConfig, export_student
    from relevance_distill.student.train import train_student

    scheme = get_label_scheme("local_services")
    pairs = sample_pairs()
    config = student_config_for("demo", init=init, max_steps=1, eval_every_steps=1, batch_size=8)
    train_student(config, scheme, pairs[:64], pairs[64:96], work / "train")
    export_student(work / "train" / "best", str(work / "published"), scheme, "relevance", "bench", {},
                   config=ExportConfig(), test_pairs=pairs[96:224], local_copy=work / "model",
                   calibration_pairs=pairs[224:])
    return work / "model"


def Server(model_dir: Path, threads: int, backend: str = "torch", max_batch_size: int | None = None):
    """The model server in its own process on a loopback port (stopped with .stop())."""
    from relevance_distill.serving.process import ModelServerProcess

    return ModelServerProcess(model_dir, backend, threads, max_batch_size)
