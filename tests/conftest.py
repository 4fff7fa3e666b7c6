"""Shared fixtures: a real S3-compatible server (moto server mode) on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relevance_distill import storage

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = storage.EmbeddedS3(log_path=tmp_path_factory.mktemp("s3") / "moto.log").start()
    saved = {key: os.environ.get(key) for key in server.env()}
    os.environ.update(server.env())
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket per test, as an s3:// URI."""
    name = "test-" + "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:50].strip("-")
    uri = f"s3://{name}"
    storage.ensure_bucket(uri)
    return uri


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (the real public datasets live in ../shared/data)")
    return SHARED_DATA
