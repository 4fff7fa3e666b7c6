"""Teacher steps on a tiny Qwen2 model: CPT and SFT change the weights; the reward model ranks correct,
grounded answers above wrong or ungrounded ones on held-out pairs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.generate import generate_dataset
from relevance_distill.data.readers import read_models
from relevance_distill.prompts import format_answer
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.common import TeacherTrainConfig
from relevance_distill.teacher.cpt import CPTConfig, run_cpt
from relevance_distill.teacher.reward import RewardConfig, rule_scores
from relevance_distill.teacher.sft import SFTStageConfig, run_sft

SCHEME = get_label_scheme("local_services")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("teacher-data")
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=80, num_log_pairs=0, corpus_documents=60, seed=9), directory)
    return directory, read_models(str(directory / "labeled.jsonl"), QueryServicePair)


def test_tiny_config_enforces_vllm_head_dims():
    with pytest.raises(ValueError, match="head dimension"):
        TeacherTrainConfig(tiny_hidden_size=96, tiny_heads=4)  # head dim 24
    TeacherTrainConfig(tiny_hidden_size=128, tiny_heads=4)  # head dim 32


def test_a_saved_tiny_teacher_reads_text_as_it_was_trained_every_digit_a_token(tmp_path):
    """The tokenizer CPT trains with is the one SFT, evaluation and annotation load back (a Qwen2 tokenizer is rebuilt
    from vocabulary and merges at load): the same ids for English, Chinese and prices, and lossless decoding."""
    from relevance_distill.teacher.common import build_tiny_causal_lm, load_causal_lm

    texts = ["Golden Hotpot (Chaoyang) | price: 1288 | under 300 yuan in Chaoyang, About 212 per person.",
             "朝阳 火锅 80元以内 位置:要求朝阳,商户在海淀,不满足。人均约95元。", "noodles 88, 99 or 128 near Haidian"] * 40
    model, trained = build_tiny_causal_lm(texts, TeacherTrainConfig(tiny_vocab_size=300))
    model.save_pretrained(tmp_path)
    trained.save_pretrained(tmp_path)
    _, loaded = load_causal_lm(str(tmp_path))
    for text in [*texts[:3], "Price: asked for under 180, service costs 95: met.", "cafe\u0301 Ｃｈａｏｙａｎｇ 12"]:
        assert loaded(text)["input_ids"] == trained(text)["input_ids"], text
        assert loaded.decode(loaded(text)["input_ids"]) == trained.decode(trained(text)["input_ids"])
    text = "price: 1288 under 300"
    assert [token for token in loaded.tokenize(text) if any(c.isdigit() for c in token)] == list("1288300")
    assert loaded.decode(loaded(text)["input_ids"]) == text


def test_cpt_then_sft_change_weights(data, tmp_path):
    directory, pairs = data
    cpt = run_cpt(CPTConfig(max_steps=3, batch_size=4, max_length=128, save_steps=100), str(directory / "corpus.jsonl"), tmp_path / "cpt")
    assert cpt["loss_curve"] and (tmp_path / "cpt" / "model" / "model.safetensors").is_file()
    before = load_file(str(tmp_path / "cpt" / "model" / "model.safetensors"))
    sft = run_sft(SFTStageConfig(max_steps=3, batch_size=4, max_length=512, save_steps=100), pairs[:64], SCHEME,
                  tmp_path / "sft", init_uri=str(tmp_path / "cpt" / "model"))
    after = load_file(str(tmp_path / "sft" / "model" / "model.safetensors"))
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) == len(before), f"{len(before) - len(changed)} tensors did not change"
    assert sft["examples"] == 64 and json.loads((tmp_path / "sft" / "metrics.json").read_text())["loss_curve"]
    assert not list((tmp_path / "sft" / "model").glob("*.bin"))  # safetensors only


def test_rule_dimensions():
    config = RewardConfig()
    query, service = "hotpot in Chaoyang", "Golden Hotpot (Chaoyang) | category: Food > Hotpot"
    grounded = format_answer("The query asks for hotpot in Chaoyang and the service is Golden Hotpot in Chaoyang.", "exact")
    scores = rule_scores(query, service, grounded, SCHEME, config, gold_label="exact")
    assert scores["format"] == 1.0 and scores["correctness"] == 1.0 and scores["conciseness"] == 1.0
    assert scores["faithfulness_rule"] == 1.0
    wrong = rule_scores(query, service, format_answer("Golden Hotpot in Chaoyang.", "irrelevant"), SCHEME, config, "exact")
    assert wrong["correctness"] == 0.0
    near = rule_scores(query, service, format_answer("Golden Hotpot in Chaoyang.", "relevant"), SCHEME, config, "exact")
    assert near["correctness"] == pytest.approx(2 / 3)
    made_up = rule_scores(query, service, format_answer("Silver Sushi bar in Haidian with karaoke.", "exact"), SCHEME, config, "exact")
    assert made_up["faithfulness_rule"] < 0.2
    broken = rule_scores(query, service, "exact", SCHEME, config, "exact")
    assert broken == {"format": 0.0, "faithfulness_rule": 0.0, "conciseness": 0.0, "correctness": 0.0}
    half = rule_scores(query, service, "<reasoning>hotpot</reasoning> exact", SCHEME, config, "exact")
    assert half["format"] == pytest.approx(0.2) and half["correctness"] == 0.0
    long = rule_scores(query, service, format_answer("hotpot " * 200, "exact"), SCHEME, config, "exact")
    assert long["conciseness"] < 0.5


def test_digit_steps_count_as_the_prices_they_compare_for_faithfulness(data):
    from relevance_distill.data.generate import DIGIT_COMPARISON

    config = RewardConfig()
    _, pairs = data
    priced = [p for p in pairs if DIGIT_COMPARISON.search(p.reasoning)]
    assert priced

    def faithfulness(pair, chain):
        answer = format_answer(chain, pair.label)
        return rule_scores(pair.query, pair.service.to_text(), answer, SCHEME, config)["faithfulness_rule"]

    for pair in priced:  # the steps restate the two prices, padded and digit by digit: nothing in them is made up
        without_steps = DIGIT_COMPARISON.sub("", pair.reasoning)
        assert faithfulness(pair, pair.reasoning) >= faithfulness(pair, without_steps) > 0
    pair = priced[0]
    price, ceiling = (int(n) for n in DIGIT_COMPARISON.search(pair.reasoning).groups())
    misread = DIGIT_COMPARISON.sub(f"{price + 1111} vs {ceiling}: 9>0", pair.reasoning)
    assert faithfulness(pair, misread) < faithfulness(pair, pair.reasoning)
