"""Loading rules of the predictor, in process."""

from __future__ import annotations

import shutil

import pytest

from relevance_distill import storage
from relevance_distill.serving.predictor import RelevancePredictor, locate_model


def test_load_refuses_missing_manifest_and_bad_checksums(exported_model, tmp_path):
    _, local = exported_model
    copy = tmp_path / "copy"
    shutil.copytree(local, copy)
    predictor = RelevancePredictor("relevance", str(copy))
    assert predictor.load() and predictor.ready and predictor.version == "v-test-1"
    (copy / "label_scheme.json").write_text("{}")
    with pytest.raises(storage.ChecksumMismatchError):
        RelevancePredictor("relevance", str(copy)).load()
    (copy / "manifest.json").unlink()
    with pytest.raises(storage.ManifestMissingError):
        locate_model(str(copy))
    with pytest.raises(FileNotFoundError):
        locate_model(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="allowed"):
        RelevancePredictor("relevance", str(copy), backend="tensorrt")
