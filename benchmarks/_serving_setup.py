"""Shared set-up for the serving benchmarks: an exported MiniLM-sized student and a running model server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from relevance_distill.config import DataGenerationConfig, student_config_for
from relevance_distill.data.generate import generate_dataset
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
    from relevance_distill.export import export_student
    from relevance_distill.student.train import train_student

    scheme = get_label_scheme("local_services")
    pairs = sample_pairs()
    config = student_config_for("demo", init=init, max_steps=1, eval_every_steps=1, batch_size=8)
    train_student(config, scheme, pairs[:64], pairs[64:96], work / "train", show_progress=False)
    export_student(work / "train" / "best", str(work / "published"), scheme, "relevance", "bench", {},
                   max_length=config.max_length, onnx=True, local_copy=work / "model")
    return work / "model"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, model_dir: Path, threads: int, backend: str = "torch", max_batch_size: int = 256):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relevance_distill.serving", "--model_name", "relevance", "--model_uri", str(model_dir),
             "--http_port", str(self.port), "--grpc_port", str(free_port()), "--backend", backend,
             "--num_threads", str(threads), "--max_batch_size", str(max_batch_size), "--enable_latency_logging", "false",
             "--configure_logging", "false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ), start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("model server did not become ready in 180 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
