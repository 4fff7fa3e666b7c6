"""scripts/gpu_rehearsal.py walks the production path; on a machine without a GPU its tiny CPU mode keeps it working
(its figures say nothing about a GPU: the script is run on one when a GPU is lent)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_rehearsal_walks_every_stage_in_its_cpu_mode(tmp_path):
    process = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_rehearsal.py"), "--out", str(tmp_path),
                              "--device", "cpu", "--size", "tiny", "--engine", "transformers"],
                             capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_rehearsal.json").read_text())
    assert report["device"] == "cpu" and report["engine"] == "transformers"
    stages = report["stages"]
    assert {"teacher CPT", "rationales + SFT", "annotation", "student (CRSD)", "export"} <= set(stages)
    assert stages["teacher CPT"]["tokens_per_second"] > 0 and stages["annotation"]["pairs_per_second"] > 0
    assert stages["rationales + SFT"]["rationales"]["sent"] > 0  # pairs without chains got rationales first
    assert stages["annotation"]["annotated"] >= 0
