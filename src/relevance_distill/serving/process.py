"""The KServe model server with our predictor in its own process on a loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from relevance_distill.processes import (
    free_loopback_port,
    stop_process,
    wait_until_ready,
)


class ModelServerProcess:
    def __init__(self, model_uri: str | Path, backend: str = "torch", threads: int = 1, max_batch_size: int | None = None,
                 max_text_chars: int | None = None, log_path: str | Path | None = None, startup_timeout_s: float = 180,
                 max_request_bytes: int | None = None):
        """Limits left at None take the server's defaults (ServingLimits)."""
        limits = {"--max_batch_size": max_batch_size, "--max_text_chars": max_text_chars,
                  "--max_request_bytes": max_request_bytes}
        self.http_port, self.grpc_port = free_loopback_port(), free_loopback_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self._log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relevance_distill.serving", "--model_name", "relevance", "--model_uri", str(model_uri),
             "--http_port", str(self.http_port), "--grpc_port", str(self.grpc_port), "--backend", backend,
             "--num_threads", str(threads), "--enable_latency_logging", "false",
             *[part for flag, value in limits.items() if value is not None for part in (flag, str(value))]],
            stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)
        wait_until_ready(self.process, self._ready, startup_timeout_s, f"model server on {self.base}")

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"{self.base}/v2/health/ready", timeout=1) as response:
            return response.status == 200

    def stop(self) -> None:
        stop_process(self.process)
        if hasattr(self._log, "close"):
            self._log.close()

    def __enter__(self) -> ModelServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
