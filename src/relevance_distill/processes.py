"""Helpers for the local services the project starts (embedded S3, model server): loopback ports, bounded
readiness waits, and stopping by PID."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(process: subprocess.Popen, is_ready: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``is_ready`` (bounded by ``timeout_s``); fail early if the process exits, stop it on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        try:
            if is_ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"{what} was not ready within {timeout_s} s")


def stop_process(process: subprocess.Popen | None, grace_s: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone (and reaped) when this returns."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
