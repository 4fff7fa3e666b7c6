"""`--student-init`: any Hugging Face encoder directory, local or in S3 (a plain copy, no manifest), starts the
students; a path that is not one is refused before anything runs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from relevance_distill import storage
from relevance_distill.cli import app
from relevance_distill.config import (
    ConfigError,
    RunConfig,
    parse_config,
    student_config_for,
)
from relevance_distill.student.model import build_tiny_classifier, resolve_init_dir
from relevance_distill.student.train import train_student

runner = CliRunner()


@pytest.fixture
def encoder_dir(builtin_splits, scheme, tmp_path):
    texts = [t for p in builtin_splits["train"] for t in (p.query, p.service.to_text())]
    model, tokenizer = build_tiny_classifier(texts, scheme)
    directory = tmp_path / "my-encoder"
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_a_plain_s3_copy_of_an_encoder_starts_the_student(encoder_dir, s3_bucket, builtin_splits, scheme, tmp_path):
    uri = f"{s3_bucket}/encoders/my-encoder"
    for path in encoder_dir.iterdir():
        storage.upload_file(path, storage.join(uri, path.name))  # as `aws s3 cp --recursive` leaves it: no manifest
    local = resolve_init_dir(uri)
    assert (local / "config.json").is_file()
    config = student_config_for("smoke", init=uri, method="gold_only", max_steps=2, eval_every_steps=2, resume=False)
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path / "out")
    assert result["steps"] == 2 and (tmp_path / "out" / "best" / "config.json").is_file()
    with pytest.raises(ValueError, match="no config.json"):
        resolve_init_dir(f"{s3_bucket}/encoders/nothing-here")


def test_the_run_takes_student_init_and_refuses_what_is_not_an_encoder(encoder_dir, tmp_path):
    config = parse_config(RunConfig, {"profile": "smoke", "student": {"init": str(encoder_dir)}})
    assert student_config_for(config.profile, **config.student).init == str(encoder_dir)
    with pytest.raises(ConfigError, match="not a Hugging Face directory"):
        parse_config(RunConfig, {"profile": "smoke", "student": {"init": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError, match="docker runner"):
        parse_config(RunConfig, {"profile": "smoke", "runner": "docker", "student": {"init": str(encoder_dir)}})
    result = runner.invoke(app, ["run", "--profile", "smoke", "--student-init", str(tmp_path / "missing"),
                                 "--workdir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "save_pretrained" in result.output
