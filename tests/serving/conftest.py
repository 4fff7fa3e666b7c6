from __future__ import annotations

import pytest

from relevance_distill.serving.process import ModelServerProcess

MAX_REQUEST_BYTES = 1_000_000


def ServerProcess(model_uri, log_path, backend: str = "torch") -> ModelServerProcess:
    """The real KServe model server with our predictor, in its own process; stopped by PID."""
    return ModelServerProcess(model_uri, backend, threads=1, max_batch_size=64, max_text_chars=5000, log_path=log_path,
                              max_request_bytes=MAX_REQUEST_BYTES)


@pytest.fixture(scope="session")
def server(exported_model, tmp_path_factory):
    uri, _ = exported_model
    process = ServerProcess(uri, tmp_path_factory.mktemp("server") / "server.log")
    yield process
    process.stop()
