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


def test_added_characters_start_alike_under_mean_and_distinct_when_sampled(scheme):
    import torch

    from relevance_distill.student.model import extend_vocabulary

    english = ["plumber near me open late", "emergency locksmith downtown", "cheap hair salon"] * 5
    chinese = ["蛋白质粉哪个牌子好", "鳄鱼皮鞋"]
    rows = {}
    for init in ("mean", "sampled", "sampled"):
        model, tokenizer = build_tiny_classifier(english, scheme, seed=0)
        pretrained = model.get_input_embeddings().weight.detach().clone()
        torch.manual_seed(5)
        added = extend_vocabulary(tokenizer, model, chinese, init)
        weight = model.get_input_embeddings().weight.detach()
        assert len(added) == len(set("".join(chinese))) and weight.shape[0] == pretrained.shape[0] + len(added)
        assert torch.equal(weight[: pretrained.shape[0]], pretrained)  # the pretrained rows are untouched
        new = weight[pretrained.shape[0]:]
        spread = (new - new.mean(dim=0)).norm(dim=1).mean() / (pretrained - pretrained.mean(dim=0)).norm(dim=1).mean()
        if init == "mean":
            assert spread < 1e-3  # every added character starts as the same vector
        else:
            assert 0.5 < spread < 2  # distinct, at the pretrained rows' scale
            rows.setdefault(init, []).append(new)
    assert torch.equal(*rows["sampled"])  # the caller's seed fixes the draw
    with pytest.raises(ValueError, match="'mean', 'sampled'"):
        extend_vocabulary(*build_tiny_classifier(english, scheme)[::-1], chinese, "zeros")
