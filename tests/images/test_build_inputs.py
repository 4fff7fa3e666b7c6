"""scripts/build-inputs.sh finds pip's CA bundle the way pip resolves it (PIP_CERT, then the config files) and fails
with the setting to fix when the bundle it names is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stage(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update({"PYTHON": sys.executable, "BUILD_INPUTS": str(inputs), "PIP_CONFIG_FILE": os.devnull,
                "PIP_FIND_LINKS": str(tmp_path / "no-wheels"), **environment})
    return subprocess.run(["bash", str(ROOT / "scripts" / "build-inputs.sh")], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_bundle_comes_from_the_environment_or_a_config_file(tmp_path):
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    from_env = stage(tmp_path, PIP_CERT=str(bundle))  # `pip config get global.cert` says "No such key" here
    assert from_env.returncode == 0, from_env.stderr
    assert (tmp_path / "inputs" / "ca-certificates.crt").read_text() == bundle.read_text()
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\ncert = {bundle}\n")
    (tmp_path / "inputs" / "ca-certificates.crt").unlink()
    from_file = stage(tmp_path, PIP_CONFIG_FILE=str(config))
    assert from_file.returncode == 0 and (tmp_path / "inputs" / "ca-certificates.crt").is_file(), from_file.stderr


def test_a_missing_bundle_fails_with_the_setting_to_fix_and_none_set_is_said(tmp_path):
    missing = stage(tmp_path, PIP_CERT=str(tmp_path / "gone.pem"))
    assert missing.returncode == 2 and "gone.pem" in missing.stderr and "PIP_CERT" in missing.stderr
    none = stage(tmp_path)
    assert none.returncode == 0 and "no CA bundle set for pip" in none.stdout
    assert not (tmp_path / "inputs" / "ca-certificates.crt").exists()
