"""The trainer on a tiny random BERT: weights change, methods share data order and steps, resume works."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from relevance_distill.config import STUDENT_METHODS, student_config_for
from relevance_distill.schemas import Annotation
from relevance_distill.student.compare import train_methods
from relevance_distill.student.train import CHECKPOINT_DIR, build_examples, train_student


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


def test_every_method_trains_changes_weights_and_shares_order(builtin_splits, scheme, tmp_path):
    config = student_config_for("smoke", max_steps=4, eval_every_steps=2)
    results = train_methods(list(STUDENT_METHODS), config, scheme, builtin_splits["train"], builtin_splits["dev"],
                            tmp_path)
    assert {r["steps"] for r in results.values()} == {4}
    assert len({r["batch_order_sha256"] for r in results.values()}) == 1
    # identical initial weights: the classifier of every method starts from the same seed
    initial = {}
    for method in STUDENT_METHODS:
        history = json.loads((tmp_path / method / "history.json").read_text())
        assert len(history["steps"]) == 4 and history["evals"][-1]["step"] == 4
        initial[method] = history["steps"][0]["lr"]
    assert len(set(initial.values())) == 1
    crsd_terms = json.loads((tmp_path / "crsd" / "history.json").read_text())["steps"][0]
    assert {"ce", "ce_reasoning", "kl", "info_nce", "loss"} <= set(crsd_terms)


def test_training_changes_weights(builtin_splits, scheme, tmp_path):
    config = student_config_for("smoke", max_steps=3, eval_every_steps=100)
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path / "a")
    trained = _weights(tmp_path / "a" / "best")
    untrained_config = config.model_copy(update={"max_steps": 1, "learning_rate": 1e-12})
    train_student(untrained_config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path / "b")
    nearly_initial = _weights(tmp_path / "b" / "best")
    changed = [name for name in trained if not torch.allclose(trained[name], nearly_initial[name], atol=1e-6)]
    assert len(changed) > 0.8 * len(trained), f"only {len(changed)}/{len(trained)} tensors changed"
    assert result["steps"] == 3 and (tmp_path / "a" / "best" / "projection_head.safetensors").is_file()


def test_resume_continues_from_last_checkpoint(builtin_splits, scheme, tmp_path):
    first = student_config_for("smoke", max_steps=4, eval_every_steps=2)
    train_student(first, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    longer = first.model_copy(update={"max_steps": 6})
    result = train_student(longer, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [s["step"] for s in history["steps"]] == [1, 2, 3, 4, 5, 6]
    assert result["steps"] == 6


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_resume_refuses_a_checkpoint_that_would_run_code(builtin_splits, scheme, tmp_path, monkeypatch):
    import pickle

    import pytest

    monkeypatch.chdir(tmp_path)
    config = student_config_for("smoke", max_steps=2, eval_every_steps=2)
    train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path / "run")
    state_path = tmp_path / "run" / CHECKPOINT_DIR / "trainer_state.pt"
    state = torch.load(state_path, weights_only=True)
    state["history"] = _RunsCodeWhenUnpickled()  # a checkpoint tampered with on shared storage
    torch.save(state, state_path)
    with pytest.raises(pickle.UnpicklingError):
        train_student(config.model_copy(update={"max_steps": 4}), scheme, builtin_splits["train"], builtin_splits["dev"],
                      tmp_path / "run")
    assert not (tmp_path / "PWNED").exists()


def test_annotations_label_log_pairs_and_lend_gold_pairs_agreeing_reasoning(builtin_splits, scheme):
    gold = builtin_splits["train"][:4]
    log_pair = gold[0].model_copy(update={"label": None, "reasoning": None})  # a search-log pair: no gold label
    unannotated_log_pair = gold[1].model_copy(update={"label": None, "reasoning": None})
    agreeing, disagreeing = (pair.model_copy(update={"reasoning": None}) for pair in gold[2:4])
    wrong = next(name for name in scheme.names if name != disagreeing.label)
    annotations = {
        log_pair.pair_id: Annotation(pair_id=log_pair.pair_id, label="weak", reasoning="because", confidence=0.6,
                                     votes={"weak": 0.6, "exact": 0.4}, teacher_version="t"),
        agreeing.pair_id: Annotation(pair_id=agreeing.pair_id, label=agreeing.label, reasoning="agreeing chain",
                                     confidence=1.0, votes={agreeing.label: 1.0}, teacher_version="t"),
        disagreeing.pair_id: Annotation(pair_id=disagreeing.pair_id, label=wrong, reasoning="argues for another label",
                                        confidence=1.0, votes={wrong: 1.0}, teacher_version="t")}
    examples, counts = build_examples([log_pair, unannotated_log_pair, agreeing, disagreeing], scheme, annotations)
    assert counts == {"pairs": 4, "examples": 3, "without_label": 1, "without_reasoning": 1}
    by_id = {example.pair.pair_id: example for example in examples}
    assert by_id[log_pair.pair_id].soft_target == (0.0, 0.6, 0.0, 0.4) and by_id[log_pair.pair_id].reasoning == "because"
    assert (by_id[agreeing.pair_id].label, by_id[agreeing.pair_id].reasoning) == (agreeing.label, "agreeing chain")
    # The gold label wins; the teacher's chain for another label is not used.
    assert (by_id[disagreeing.pair_id].label, by_id[disagreeing.pair_id].reasoning) == (disagreeing.label, "")
    assert sum(by_id[disagreeing.pair_id].soft_target) == 1.0
    gold_examples, _ = build_examples(gold, scheme, {})
    assert len(gold_examples) == 4 and sum(gold_examples[0].soft_target) == 1.0
