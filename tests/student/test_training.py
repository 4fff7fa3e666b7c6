"""The trainer on a tiny random BERT: weights change, methods share data order and steps, resume works."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from relevance_distill.config import (
    COMPUTE_MATCHED_METHODS,
    STUDENT_METHODS,
    ConfigError,
    student_config_for,
)
from relevance_distill.schemas import Annotation
from relevance_distill.student.compare import (
    compute_matched_steps,
    train_methods,
    training_order,
)
from relevance_distill.student.train import (
    CHECKPOINT_DIR,
    build_examples,
    train_student,
    without_verdict,
)


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


def test_every_method_trains_changes_weights_and_shares_order(builtin_splits, scheme, tmp_path):
    from relevance_distill.plugins import load_plugin

    config = student_config_for("smoke", max_steps=4, eval_every_steps=2)
    extra = load_plugin("builtin").counterfactual_pairs(builtin_splits["train"], 13, ["district"])
    results = train_methods(list(STUDENT_METHODS), config, scheme, builtin_splits["train"], builtin_splits["dev"],
                            tmp_path, extra_gold_pairs=extra)
    assert list(results) == list(STUDENT_METHODS)
    equal_steps = [method for method in STUDENT_METHODS if method not in COMPUTE_MATCHED_METHODS]
    assert {results[m]["steps"] for m in equal_steps} == {4}
    # Identical batches, but for gold_augmented, whose training set has the extra pairs on top.
    assert len({results[m]["batch_order_sha256"] for m in equal_steps if m != "gold_augmented"}) == 1
    # identical initial weights: the classifier of every method starts from the same seed
    initial = {}
    for method in equal_steps:
        history = json.loads((tmp_path / method / "history.json").read_text())
        assert len(history["steps"]) == 4 and history["evals"][-1]["step"] == 4
        initial[method] = history["steps"][0]["lr"]
    assert len(set(initial.values())) == 1
    matched = results["vanilla_compute_matched"]
    # Its budget is whatever CRSD's measured training time buys at vanilla's measured step cost (timing-dependent).
    assert matched["steps"] == compute_matched_steps(results["crsd"], results["vanilla"])
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
    # What it computed in is recorded: bf16 autocast only where this CPU runs bf16 natively.
    from relevance_distill.student.train import native_bf16

    assert result["precision"] == ("bf16_autocast" if config.amp and native_bf16(torch.device("cpu")) else "fp32")


def test_training_stops_when_dev_stops_improving_and_says_why(builtin_splits, scheme, tmp_path):
    config = student_config_for("smoke", max_steps=None, epochs=3, eval_every_steps=1, early_stopping_patience=1,
                                learning_rate=1e-12)
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    # The first evaluation sets the best score; a model that does not move cannot beat it at the second.
    assert result["stopped_early"] is True and result["steps"] == 2 and result["best_step"] == 1
    # The built-in scheme is graded, so 'auto' selects by the ordinal decoder, as the gate checks it.
    assert result["selection_decoding"] == "ordinal"
    assert result["stop_reason"] == "no dev macro-F1 (ordinal) gain in 1 evaluations"
    assert result["total_steps"] == 3 * (len(builtin_splits["train"]) // config.batch_size)
    assert result["epochs"] == round(2 * config.batch_size / len(builtin_splits["train"]), 2)
    budget = train_student(config.model_copy(update={"max_steps": 2, "early_stopping_patience": 0}), scheme,
                           builtin_splits["train"], builtin_splits["dev"], tmp_path / "fixed")
    assert budget["stopped_early"] is False and budget["stop_reason"] == "step budget (2 steps)"


def test_resume_continues_from_last_checkpoint(builtin_splits, scheme, tmp_path):
    first = student_config_for("smoke", max_steps=4, eval_every_steps=2)
    train_student(first, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    longer = first.model_copy(update={"max_steps": 6})
    result = train_student(longer, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [s["step"] for s in history["steps"]] == [1, 2, 3, 4, 5, 6]
    assert result["steps"] == 6


@pytest.mark.parametrize("decoding", ["argmax", "ordinal"])
def test_the_kept_checkpoint_is_the_best_under_the_selection_decoding(builtin_splits, scheme, tmp_path, decoding):
    from relevance_distill.evaluation.evaluate import evaluate_student
    from relevance_distill.student.train import SELECTION_KEYS

    config = student_config_for("smoke", max_steps=6, eval_every_steps=1, selection_decoding=decoding)
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    evals = json.loads((tmp_path / "history.json").read_text())["evals"]
    key = SELECTION_KEYS[decoding]
    best = max(evals, key=lambda e: e[key])
    assert result["selection_decoding"] == decoding
    assert (result["best_step"], result["best_dev_macro_f1"]) == (best["step"], best[key])
    # The saved best model, decoded as the selection decoded it, scores what selected it on dev.
    measured = evaluate_student(tmp_path / "best", builtin_splits["test"], scheme, latency_requests=0,
                                dev_pairs=builtin_splits["dev"])["dev"]
    kept = measured["macro_f1"] if decoding == "argmax" else measured["ordinal"]["macro_f1"]
    assert kept == pytest.approx(best[key], abs=1e-6)


def test_resume_refuses_a_checkpoint_selected_under_another_decoding(builtin_splits, scheme, tmp_path):
    config = student_config_for("smoke", max_steps=2, eval_every_steps=2, selection_decoding="argmax")
    train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    with pytest.raises(ValueError, match="'argmax' decoding and this run asks for 'ordinal'"):
        train_student(config.model_copy(update={"max_steps": 4, "selection_decoding": "ordinal"}), scheme,
                      builtin_splits["train"], builtin_splits["dev"], tmp_path)


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_resume_refuses_a_checkpoint_that_would_run_code(builtin_splits, scheme, tmp_path, monkeypatch):
    import pickle

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
    assert counts == {"pairs": 4, "examples": 3, "without_label": 1, "without_reasoning": 1, "without_label_probs": 1}
    by_id = {example.pair.pair_id: example for example in examples}
    assert by_id[log_pair.pair_id].soft_target == (0.0, 0.6, 0.0, 0.4) and by_id[log_pair.pair_id].reasoning == "because"
    assert (by_id[agreeing.pair_id].label, by_id[agreeing.pair_id].reasoning) == (agreeing.label, "agreeing chain")
    # The gold label wins; the teacher's chain for another label is not used.
    assert (by_id[disagreeing.pair_id].label, by_id[disagreeing.pair_id].reasoning) == (disagreeing.label, "")
    assert sum(by_id[disagreeing.pair_id].soft_target) == 1.0
    gold_examples, _ = build_examples(gold, scheme, {})
    assert len(gold_examples) == 4 and sum(gold_examples[0].soft_target) == 1.0


def _log_pairs_with_annotations(pairs, label_probs=True):
    """The pairs as search-log pairs (no gold label) with teacher annotations."""
    logs = [pair.model_copy(update={"label": None, "reasoning": None, "pair_id": f"log-{pair.pair_id}"}) for pair in pairs]
    annotations = {pair.pair_id: Annotation(
        pair_id=pair.pair_id, label="weak", reasoning="The query asks for a service. So the label is weak.", confidence=1.0,
        votes={"weak": 1.0}, label_probs={"irrelevant": 0.1, "weak": 0.6, "relevant": 0.2, "exact": 0.1} if label_probs else {},
        teacher_version="t") for pair in logs}
    return logs, annotations


def test_gold_only_never_sees_the_teacher_and_logit_kd_learns_its_distribution(builtin_splits, scheme, tmp_path):
    gold = builtin_splits["train"]
    logs, annotations = _log_pairs_with_annotations(gold[:40])
    config = student_config_for("smoke", max_steps=2, eval_every_steps=2)
    results = train_methods(["gold_only", "vanilla", "logit_kd"], config, scheme, gold + logs, builtin_splits["dev"],
                            tmp_path, annotations)
    assert results["gold_only"]["examples"]["examples"] == len(gold)
    assert results["gold_only"]["examples"]["teacher_pairs_left_out"] == 40
    assert results["vanilla"]["examples"]["examples"] == len(gold) + 40
    assert results["logit_kd"]["examples"]["without_label_probs"] == 0
    examples, _ = build_examples(gold[:1] + logs[:1], scheme, annotations)
    assert examples[0].teacher_probs == tuple(float(name == gold[0].label) for name in scheme.names)  # gold: one-hot
    assert examples[1].teacher_probs == (0.1, 0.6, 0.2, 0.1)

    logs_without, annotations_without = _log_pairs_with_annotations(gold[:5], label_probs=False)
    with pytest.raises(ValueError, match="label_probs.*vote_kd"):
        train_methods(["logit_kd"], config, scheme, gold + logs_without, builtin_splits["dev"], tmp_path / "missing",
                      annotations_without)


def test_gold_augmented_is_gold_only_plus_the_extra_gold_pairs_and_nothing_from_the_teacher(builtin_splits, scheme,
                                                                                              tmp_path):
    from relevance_distill.plugins import load_plugin

    gold = builtin_splits["train"]
    logs, annotations = _log_pairs_with_annotations(gold[:40])
    extra = load_plugin("builtin").counterfactual_pairs(gold, 13, ["district"])  # rule-labelled, as the teacher's SFT saw
    assert extra and all(pair.label for pair in extra)
    config = student_config_for("smoke", max_steps=2, eval_every_steps=2)
    results = train_methods(["gold_only", "gold_augmented"], config, scheme, gold + logs, builtin_splits["dev"],
                            tmp_path, annotations, extra + extra[:3])  # repeated pairs count once
    assert results["gold_only"]["examples"]["examples"] == len(gold)
    assert results["gold_only"]["examples"]["extra_gold_pairs"] == 0
    augmented = results["gold_augmented"]["examples"]
    assert augmented["examples"] == len(gold) + len(extra) == len(gold) + augmented["extra_gold_pairs"]
    assert augmented["teacher_pairs_left_out"] == 40  # the teacher's labels stay out, as for gold_only
    with pytest.raises(ValueError, match="gold_augmented.*--extra-gold"):
        train_methods(["gold_augmented"], config, scheme, gold, builtin_splits["dev"], tmp_path / "none")


def test_the_verdict_sentence_is_removed_from_every_builtin_chain(builtin_splits):
    chains = [pair.reasoning for split in builtin_splits.values() for pair in split if pair.reasoning]
    assert len(chains) > 100
    for chain in chains:
        stripped, removed = without_verdict(chain)
        assert removed, chain
        assert "label is" not in stripped and "判定为" not in stripped, (chain, stripped)
        assert stripped and chain.startswith(stripped), (chain, stripped)
    assert without_verdict("Location: asked for Haidian, service is in Haidian: met. Every requirement is met, so the "
                           "label is exact.") == ("Location: asked for Haidian, service is in Haidian: met.", True)
    assert without_verdict("查询想找火锅(美食类)。该商户是寿司(美食类),类别完全不同。因此判定为不相关。") == (
        "查询想找火锅(美食类)。该商户是寿司(美食类),类别完全不同。", True)
    assert without_verdict("No verdict here.") == ("No verdict here.", False)
    assert without_verdict("So the label is weak.") == ("", True)


def test_crsd_no_verdict_trains_on_chains_without_the_verdict(builtin_splits, scheme, tmp_path):
    config = student_config_for("smoke", max_steps=2, eval_every_steps=2, method="crsd_no_verdict")
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    assert result["examples"]["verdicts_removed"] == len(builtin_splits["train"])


def test_crsd_chain_view_reads_the_query_and_the_chain_without_the_service(builtin_splits, scheme, tmp_path):
    from relevance_distill.encoding import ViewEncoder
    from relevance_distill.hf import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(["hotpot in chaoyang golden hotpot food the service is a hotpot place"] * 5,
                                          vocab_size=200)
    encoder = ViewEncoder(tokenizer, max_length=48, reasoning_max_length=56)
    query, service, chain = "hotpot in chaoyang", "golden hotpot | food", "the service is a hotpot place " * 20

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    standard, full = encoder.encode([query], [service], [chain])
    _, chain_only = encoder.encode([query], [service], [chain], reasoning_with_service=False)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert standard[0].input_ids == [cls, *ids(query), sep, *ids(service), sep]
    assert full[0].input_ids[: len(standard[0].input_ids)] == standard[0].input_ids
    # Without the service the chain starts right after the query and fills the same budget.
    view = chain_only[0]
    assert view.input_ids == [cls, *ids(query), sep, *ids(chain)[: 56 - len(ids(query)) - 3], sep]
    assert len(view.input_ids) == len(full[0].input_ids) == 56
    assert view.token_type_ids == [0] * (len(ids(query)) + 2) + [1] * (len(view.input_ids) - len(ids(query)) - 2)

    config = student_config_for("smoke", max_steps=2, eval_every_steps=2, method="crsd_chain_view")
    result = train_student(config, scheme, builtin_splits["train"], builtin_splits["dev"], tmp_path)
    assert result["examples"]["verdicts_removed"] == len(builtin_splits["train"])


def test_compute_matched_methods_train_after_their_references():
    assert training_order(["vanilla_compute_matched", "crsd", "vanilla"]) == ["crsd", "vanilla", "vanilla_compute_matched"]
    with pytest.raises(ConfigError, match=r"add \['vanilla'\]"):
        training_order(["crsd", "vanilla_compute_matched"])
    assert compute_matched_steps({"steps": 100, "train_seconds": 270.0}, {"steps": 100, "train_seconds": 100.0}) == 270


def test_length_grouped_batches_pad_less_and_still_cover_every_example_once_per_epoch():
    import random

    from relevance_distill.student.train import LENGTH_GROUP_WINDOW_BATCHES, batch_order

    rng = random.Random(0)
    lengths = [rng.randint(10, 128) for _ in range(3200)]
    steps_per_epoch = len(lengths) // 32
    plain = batch_order(len(lengths), 32, 2 * steps_per_epoch, seed=5)
    grouped = batch_order(len(lengths), 32, 2 * steps_per_epoch, seed=5, lengths=lengths)
    assert grouped == batch_order(len(lengths), 32, 2 * steps_per_epoch, seed=5, lengths=lengths)
    for order in (plain, grouped):
        for epoch in (order[:steps_per_epoch], order[steps_per_epoch:]):
            assert sorted(i for batch in epoch for i in batch) == list(range(len(lengths)))

    def padded_tokens(order):
        return sum(32 * max(lengths[i] for i in batch) for batch in order)

    real = 2 * sum(lengths)
    assert 1 - real / padded_tokens(plain) > 0.35  # a random batch pads to near the longest length
    assert 1 - real / padded_tokens(grouped) < 0.05
    # Long and short batches alternate: the batch order is not sorted by length within a window.
    window = [max(lengths[i] for i in batch) for batch in grouped[:LENGTH_GROUP_WINDOW_BATCHES]]
    assert window != sorted(window) and window != sorted(window, reverse=True)
    with pytest.raises(ValueError, match="3 lengths for 4 examples"):
        batch_order(4, 2, 1, seed=0, lengths=[1, 2, 3])


def test_bf16_autocast_is_off_where_onednn_may_not_use_bf16_instructions(monkeypatch):
    from relevance_distill.student.train import native_bf16

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert native_bf16(torch.device("cpu")) is False
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_vnni")
    assert native_bf16(torch.device("cpu")) is False
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        flags = cpuinfo.read().split()
    assert native_bf16(torch.device("cpu")) is ("avx512_bf16" in flags or "amx_bf16" in flags)
    from relevance_distill.student.train import training_precision

    assert training_precision(False, torch.device("cpu")) == "fp32"
    assert training_precision(True, torch.device("cpu")) == ("bf16_autocast" if native_bf16(torch.device("cpu"))
                                                              else "fp32")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert training_precision(True, torch.device("cpu")) == "fp32"


def test_the_fused_adamw_kernel_takes_the_multi_tensor_kernels_steps():
    """fused_adamw changes the kernel, not the update: the same weights and gradients give the same parameters (to
    float rounding) after several steps, weight decay on matrices only in both."""
    import copy

    from relevance_distill.student.train import _optimizer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    twin = copy.deepcopy(model)
    config = student_config_for("full", weight_decay=0.1, learning_rate=1e-2)
    fused, plain = _optimizer(model, config), _optimizer(twin, config.model_copy(update={"fused_adamw": False}))
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    for _ in range(5):
        for first, second in zip(model.parameters(), twin.parameters()):
            gradient = torch.randn_like(first)
            first.grad, second.grad = gradient.clone(), gradient.clone()
        fused.step()
        plain.step()
    for first, second in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(first, second, atol=1e-6), (first - second).abs().max()
