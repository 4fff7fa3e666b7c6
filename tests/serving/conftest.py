from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """The real KServe model server with our predictor, in its own process; stopped by PID."""

    def __init__(self, model_uri: str, log_path, backend: str = "torch"):
        self.http_port, self.grpc_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relevance_distill.serving", "--model_name", "relevance", "--model_uri", model_uri,
             "--http_port", str(self.http_port), "--grpc_port", str(self.grpc_port), "--backend", backend,
             "--num_threads", "1", "--max_batch_size", "64", "--max_text_chars", "5000", "--enable_latency_logging", "false"],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log_path}")
            try:
                if httpx.get(f"{self.base}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready within 120 s; see {log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="session")
def server(exported_model, tmp_path_factory):
    uri, _ = exported_model
    process = ServerProcess(uri, tmp_path_factory.mktemp("server") / "server.log")
    yield process
    process.stop()
