"""Teacher steps on a tiny Qwen2 model: CPT and SFT change the weights; the reward model ranks correct,
grounded answers above wrong or ungrounded ones on held-out pairs."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from relevance_distill.builtin_world.generate import (
    counterfactual_pairs,
    generate_dataset,
)
from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.readers import read_models
from relevance_distill.plugins import PLAIN_TEXT, load_plugin
from relevance_distill.prompts import format_answer, user_message
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.common import TeacherTrainConfig
from relevance_distill.teacher.cpt import CPTConfig, run_cpt
from relevance_distill.teacher.reward import (
    RewardConfig,
    RewardModel,
    rule_scores,
    train_reward_model,
)
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
    from relevance_distill.llm.loading import load_causal_lm
    from relevance_distill.teacher.common import build_tiny_causal_lm

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


def test_sft_gives_up_on_a_model_that_answers_one_label_for_every_pair(data, tmp_path):
    """A random tiny model after a few steps answers one label (or nothing that parses) for every dev pair: with
    give_up_checks 2 and a check every 2 steps it stops at step 4 of 40 and says so in its metrics."""
    _, pairs = data
    config = SFTStageConfig(init="tiny", tiny_hidden_size=64, tiny_heads=1, tiny_layers=1, max_steps=40, batch_size=4,
                            max_length=256, save_steps=100, give_up_checks=2, give_up_check_every_steps=2,
                            give_up_check_pairs=12, rationales={"max_new_tokens": 16})
    metrics = run_sft(config, pairs[:64], SCHEME, tmp_path / "sft", dev_pairs=pairs[64:90])
    give_up = metrics["give_up"]
    assert give_up["gave_up_at_step"] == 4 and [check["step"] for check in give_up["checks"]] == [2, 4]
    assert all(check["collapsed"] and check["distinct_labels"] <= 1 for check in give_up["checks"])
    assert give_up["pairs"] == 12 and (tmp_path / "sft" / "model" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "sft" / "metrics.json").read_text())["give_up"]["gave_up_at_step"] == 4
    # Without dev pairs nothing is checked: the whole budget trains.
    whole = run_sft(config.model_copy(update={"max_steps": 6}), pairs[:64], SCHEME, tmp_path / "whole")
    assert "give_up" not in whole and whole["loss_curve"]


def test_after_an_sft_that_gave_up_no_reward_model_or_dpo_is_trained_and_the_run_skips_the_teacher(data, tmp_path):
    """The steps as the pipeline chains them: an SFT that gave up publishes its give-up record; the reward step
    trains nothing and returns no model; the preference step publishes the SFT model unchanged as the teacher with
    its test and dev evaluation and no preference pairs; the teacher check then skips distillation and says why."""
    from relevance_distill import storage
    from relevance_distill.evaluation.retention import published_evaluation
    from relevance_distill.evaluation.teacher_check import distillation_decision
    from relevance_distill.teacher.preference import PreferenceConfig
    from relevance_distill.teacher.stages import (
        preference_step,
        reward_step,
        sft_gave_up,
        sft_step,
    )

    _, pairs = data
    config = SFTStageConfig(init="tiny", tiny_hidden_size=64, tiny_heads=1, tiny_layers=1, max_steps=40, batch_size=4,
                            max_length=256, save_steps=100, give_up_checks=2, give_up_check_every_steps=2,
                            give_up_check_pairs=12, rationales={"max_new_tokens": 16})
    train, dev, test = pairs[:64], pairs[64:90], pairs[90:110]
    sft = sft_step(config, train, SCHEME, str(tmp_path / "sft"), None, dev_pairs=dev)
    reason = sft_gave_up(sft["model_uri"])
    assert reason and reason.startswith("teacher SFT gave up at step 4")
    reward = reward_step(RewardConfig(max_steps=2), train, SCHEME, str(tmp_path / "reward"), sft_model_uri=sft["model_uri"])
    assert reward == {"model_uri": "", "metrics": {"skipped": reason, "pairs": 0, "held_out_accuracy": {}}}
    assert not (tmp_path / "reward").exists()
    preference = preference_step(PreferenceConfig(max_steps=2, max_new_tokens=16), sft["model_uri"], reward["model_uri"],
                                 train, SCHEME, str(tmp_path / "dpo"), test, dev_pairs=dev)
    assert storage.read_text(preference["pairs_uri"]) == "" and preference["metrics"] == {"skipped": reason, "pairs": 0}
    published = storage.local_path(preference["model_uri"])
    assert load_file(str(published / "model.safetensors")).keys() == \
        load_file(str(storage.local_path(sft["model_uri"]) / "model.safetensors")).keys()
    evaluation = published_evaluation(preference["model_uri"])
    assert evaluation["dpo_skipped"] == reason and evaluation["after_sft"] == evaluation["after_dpo"]
    assert evaluation["test_pairs"] == 20 and evaluation["dev"]["pairs"] == 26
    decision = distillation_decision(evaluation, 0.02, teacher_given=False)
    assert not decision["distil"] and reason in decision["reason"]
    # A model that trained its budget (or one of yours, without metrics) is not skipped.
    assert sft_gave_up(str(tmp_path / "nowhere")) is None


def test_a_give_up_check_counts_only_a_model_that_answers_one_label():
    """Below the majority class but answering several labels is a teacher that may still learn (the demo teacher
    on the built-in data, docs/teacher.md): not collapsed. One label, or nothing that parses, is."""
    from relevance_distill.teacher.sft import check_record

    learning = check_record(250, {"macro_f1": 0.05, "predicted": [0, 1, 0, 2, -1]})
    assert learning == {"step": 250, "dev_macro_f1": 0.05, "distinct_labels": 3, "collapsed": False}
    assert check_record(500, {"macro_f1": 0.17, "predicted": [2, 2, -1, 2]})["collapsed"]
    assert check_record(750, {"macro_f1": 0.0, "predicted": [-1, -1]})["collapsed"]


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
    from relevance_distill.builtin_world.generate import DIGIT_COMPARISON

    config = RewardConfig(dataset_plugin="builtin")  # the built-in world's chain grammar
    _, pairs = data
    priced = [p for p in pairs if DIGIT_COMPARISON.search(p.reasoning)]
    assert priced

    def faithfulness(pair, chain, config=config):
        answer = format_answer(chain, pair.label)
        return rule_scores(pair.query, pair.service.to_text(), answer, SCHEME, config)["faithfulness_rule"]

    # Read as plain text (what a user's data gets), the padded digits are tokens the input does not hold.
    assert faithfulness(priced[0], priced[0].reasoning, RewardConfig()) < faithfulness(priced[0], priced[0].reasoning)

    for pair in priced:  # the steps restate the two prices, padded and digit by digit: nothing in them is made up
        without_steps = DIGIT_COMPARISON.sub("", pair.reasoning)
        assert faithfulness(pair, pair.reasoning) >= faithfulness(pair, without_steps) > 0
    pair = priced[0]
    price, ceiling = (int(n) for n in DIGIT_COMPARISON.search(pair.reasoning).groups())
    misread = DIGIT_COMPARISON.sub(f"{price + 1111} vs {ceiling}: 9>0", pair.reasoning)
    assert faithfulness(pair, misread) < faithfulness(pair, pair.reasoning)


def test_reward_model_ranks_correct_grounded_answers_first(data, tmp_path):
    _, pairs = data
    train, held_out = pairs[:480], pairs[480:]
    metrics = train_reward_model(train, SCHEME, RewardConfig(max_steps=60, batch_size=16), tmp_path)
    reward = RewardModel.load(tmp_path / "model", SCHEME)
    wins, total = 0, 0
    donors = {p.label: p for p in reversed(held_out)}
    for pair in held_out[:60]:
        base = {"query": pair.query, "service_text": pair.service.to_text(), "gold_label": pair.label}
        good = format_answer(pair.reasoning, pair.label)
        wrong_label = next(n for n in SCHEME.names if n != pair.label)
        donor = donors[pair.label]
        candidates = [format_answer(pair.reasoning, wrong_label)]
        if donor.query != pair.query:
            candidates.append(format_answer(donor.reasoning, pair.label))
        scores = reward.score([{**base, "answer": a} for a in [good, *candidates]])
        for other in scores[1:]:
            wins += scores[0]["total"] > other["total"]
            total += 1
        assert set(scores[0]) == {"format", "correctness", "faithfulness", "consistency", "conciseness", "total"}
    accuracy = wins / total
    print(f"reward model: held-out ranking accuracy {accuracy:.3f} over {total} comparisons; heads {metrics['held_out_accuracy']}")
    assert accuracy >= 0.9


def test_cpt_step_publishes_to_s3_and_a_fresh_pod_resumes_from_the_published_checkpoint(data, tmp_path, s3_server):
    from relevance_distill import storage
    from relevance_distill.teacher.stages import cpt_step

    directory, pairs = data
    storage.ensure_bucket("s3://teacher")
    first = cpt_step(CPTConfig(max_steps=4, batch_size=4, max_length=128, save_steps=2), str(directory / "corpus.jsonl"),
                     "s3://teacher/cpt", SCHEME, pairs[:20], workdir=tmp_path / "pod-1")
    assert first["model_uri"] == "s3://teacher/cpt/model"
    assert "model.safetensors" in storage.read_manifest(first["model_uri"]).files
    assert storage.read_manifest("s3://teacher/cpt/checkpoints/latest").metadata["global_step"] == 4
    # A restarted pod has an empty disk: it must continue from step 4 of the published checkpoint, not from 0.
    second = cpt_step(CPTConfig(max_steps=6, batch_size=4, max_length=128, save_steps=2), str(directory / "corpus.jsonl"),
                      "s3://teacher/cpt", SCHEME, pairs[:20], workdir=tmp_path / "pod-2")
    assert first["metrics"]["resumed_from_step"] == 0 and second["metrics"]["resumed_from_step"] == 4
    # Steps 1–4 come from the restored trainer state, not from a retraining (whose 6-step schedule differs).
    assert second["metrics"]["loss_curve"][:4] == first["metrics"]["loss_curve"]
    assert [point["step"] for point in second["metrics"]["loss_curve"]] == [1, 2, 3, 4, 5, 6]
    assert storage.read_manifest("s3://teacher/cpt/checkpoints/latest").metadata["global_step"] == 6


def test_reward_heads_on_the_sft_teacher_score_each_answer_alike_alone_or_in_a_padded_batch(data, tmp_path):
    """init 'sft': the heads sit on the teacher's causal LM and read its last token, so a shorter answer in a
    padded batch must score as it does alone (the pad id marks where each sequence ends)."""
    from relevance_distill.teacher.common import build_tiny_causal_lm

    _, pairs = data
    texts = [format_answer(p.reasoning, p.label) + p.query + p.service.to_text() for p in pairs[:200]]
    teacher, tokenizer = build_tiny_causal_lm(texts, TeacherTrainConfig(tiny_vocab_size=400))
    teacher.save_pretrained(tmp_path / "sft")
    tokenizer.save_pretrained(tmp_path / "sft")
    config = RewardConfig(init="sft", max_steps=4, batch_size=8)
    with pytest.raises(ValueError, match="sft_model_uri"):
        train_reward_model(pairs[:120], SCHEME, config, tmp_path / "no-sft")
    metrics = train_reward_model(pairs[:120], SCHEME, config, tmp_path / "reward", sft_model_uri=str(tmp_path / "sft"))
    assert set(metrics["held_out_accuracy"]) == {"faithfulness", "consistency"}
    reward = RewardModel.load(tmp_path / "reward" / "model", SCHEME)
    assert type(reward.backbone).__name__ == "Qwen2ForSequenceClassification"
    items = [{"query": p.query, "service_text": p.service.to_text(), "answer": format_answer(p.reasoning, p.label)}
             for p in pairs[120:126]]
    contexts = [user_message(item["query"], item["service_text"]) for item in items]
    batched = reward.learned_scores(contexts, [item["answer"] for item in items])
    lengths = {len(reward.tokenizer(c, item["answer"])["input_ids"]) for c, item in zip(contexts, items)}
    assert len(lengths) > 1  # the batch is padded
    for context, item, in_batch in zip(contexts, items, batched):
        alone = reward.learned_scores([context], [item["answer"]])[0]
        assert alone == pytest.approx(in_batch, abs=1e-5)


def test_reward_model_resumes_from_its_published_checkpoint(data, tmp_path):
    _, pairs = data
    checkpoints = str(tmp_path / "published-checkpoints")
    first = train_reward_model(pairs[:120], SCHEME, RewardConfig(max_steps=4, batch_size=8, save_steps=2), tmp_path / "pod-1", checkpoints)
    second = train_reward_model(pairs[:120], SCHEME, RewardConfig(max_steps=6, batch_size=8, save_steps=2), tmp_path / "pod-2", checkpoints)
    assert first["resumed_from_step"] == 0 and second["resumed_from_step"] == 4


def _entity_sequence(text: str, entities: list[list[str]]) -> list[tuple[int, int]]:
    """(entity, form) of every entity form in TEXT, in order (longest form first where forms overlap)."""
    import re

    forms = sorted(((form, e, f) for e, entity in enumerate(entities) for f, form in enumerate(entity)), key=lambda x: -len(x[0]))
    pattern = re.compile("|".join(re.escape(form) for form, _, _ in forms))
    index = {form: (e, f) for form, e, f in forms}
    return [index[match.group(0)] for match in pattern.finditer(text)]


def test_augmented_copies_rename_districts_consistently_and_keep_every_price_comparison(data):
    from relevance_distill.builtin_world.generate import (
        DIGIT_COMPARISON,
        DISTRICTS,
        compared_numbers,
        digit_comparison,
    )
    from relevance_distill.teacher.sft import ExampleAugmenter, sft_examples

    _, pairs = data
    districts = [list(district) for district in DISTRICTS]
    examples = sft_examples(pairs[:60], SCHEME, None)
    augmented = ExampleAugmenter([districts], number_shift=100, seed=3, plugin=load_plugin("builtin")).augment(
        examples, copies=2)
    assert len(augmented) == 3 * len(examples) and augmented[:len(examples)] == examples
    changed = compared = 0
    for copy in (1, 2):
        for original, new in zip(examples, augmented[copy * len(examples):(copy + 1) * len(examples)]):
            before, after = (x["prompt"] + x["completion"] for x in (original, new))
            old_entities, new_entities = _entity_sequence(before, districts), _entity_sequence(after, districts)
            assert [f for _, f in old_entities] == [f for _, f in new_entities]  # the same form (language) each time
            image = {}
            for (old, _), (renamed, _) in zip(old_entities, new_entities):
                assert image.setdefault(old, renamed) == renamed  # one entity always becomes the same one
            assert len(set(image.values())) == len(image)  # and two never become one
            old_numbers, new_numbers = compared_numbers(before), compared_numbers(after)
            assert len(old_numbers) == len(new_numbers) and min(new_numbers, default=1) >= 1
            assert len({b - a for a, b in zip(old_numbers, new_numbers)}) <= 1  # one shift: every comparison holds
            for match in DIGIT_COMPARISON.finditer(after):  # and the digit steps are those of the shifted pair
                compared += 1
                assert match.group(0) == digit_comparison(int(match.group(1)), int(match.group(2)))
            assert new["completion"].endswith(original["completion"][original["completion"].rindex("<label>"):])
            changed += before != after
    assert changed > len(examples)  # most copies differ from their original
    assert compared > 0


def test_entity_swap_groups_are_validated():
    from relevance_distill.teacher.sft import ExampleAugmenter

    with pytest.raises(ValueError, match="same number of forms"):
        ExampleAugmenter([[["Chaoyang", "朝阳"], ["Haidian"]]], 0, 0, PLAIN_TEXT)
    with pytest.raises(ValueError, match="at least two entities"):
        ExampleAugmenter([[["Chaoyang", "朝阳"]]], 0, 0, PLAIN_TEXT)


def test_examples_matching_the_oversample_pattern_get_that_many_more_augmented_copies(data):
    from relevance_distill.builtin_world.generate import DISTRICTS, EQUAL_DISTRICT_CHECK
    from relevance_distill.teacher.sft import (
        augmented_examples,
        oversampled,
        sft_examples,
    )

    _, pairs = data
    examples = sft_examples(pairs, SCHEME, None)
    swaps = [[list(district) for district in DISTRICTS]]
    plain = SFTStageConfig(augment_copies=2, entity_swaps=swaps, number_shift=50)
    config = plain.model_copy(update={"oversample_pattern": EQUAL_DISTRICT_CHECK, "oversample_copies": 3})
    extra = oversampled(config, examples)
    matching = [e for e, more in zip(examples, extra) if more]
    assert 0 < len(matching) < len(examples) / 3 and set(extra) == {0, 3}
    augmented = augmented_examples(config, examples)
    assert len(augmented) == 3 * len(examples) + 3 * len(matching)
    # a copy renames districts consistently, so every copy of a matching example still compares one district
    assert sum(1 for e in augmented if re.search(EQUAL_DISTRICT_CHECK, e["completion"])) == 6 * len(matching)
    # the first copies are those drawn without oversampling (same seed, same order): existing recipes are unchanged
    assert augmented_examples(plain, examples) == augmented[:3 * len(examples)]


def test_oversampling_settings_are_validated():
    with pytest.raises(ValueError, match="not a regular expression"):
        SFTStageConfig(oversample_pattern="asked for (", oversample_copies=2)
    with pytest.raises(ValueError, match="go together"):
        SFTStageConfig(oversample_pattern="met")
    with pytest.raises(ValueError, match="go together"):
        SFTStageConfig(oversample_copies=2)


def test_counterfactual_checks_are_validated_against_the_dataset_plugin():
    builtin = {"dataset_plugin": "builtin"}
    assert SFTStageConfig(**builtin, counterfactuals=["price", "district"]).counterfactuals == ["price", "district"]
    with pytest.raises(ValueError, match=r"colour.*'district', 'feature', 'price'|'district', 'feature', 'price'.*colour"):
        SFTStageConfig(**builtin, counterfactuals=["district", "colour"])
    with pytest.raises(ValueError, match="at most once"):
        SFTStageConfig(**builtin, counterfactuals=["feature", "feature"])
    # Plain text (a user's data) has no rule engine to relabel an edited pair: it offers no checks.
    with pytest.raises(ValueError, match=r"'none'.*\[\]"):
        SFTStageConfig(counterfactuals=["district"])
    with pytest.raises(ValueError, match="unknown dataset plugin 'nosuch'.*'builtin'"):
        SFTStageConfig(dataset_plugin="nosuch")
    with pytest.raises(ValueError, match="cannot be loaded"):
        SFTStageConfig(dataset_plugin="relevance_distill.plugins:NO_SUCH")
    with pytest.raises(ValueError, match="does not implement"):
        SFTStageConfig(dataset_plugin="relevance_distill.plugins:REGISTERED")


def test_sft_trains_on_the_augmented_copies(data, tmp_path):

    _, pairs = data
    config = SFTStageConfig(max_steps=2, batch_size=4, max_length=512, save_steps=100, augment_copies=2,
                            dataset_plugin="builtin", number_shift=50,
                            oversample_pattern="Location:|位置:", oversample_copies=1, counterfactuals=["district", "feature"])
    chosen = pairs[:12] + [pair for pair in pairs[12:] if "Location:" in (pair.reasoning or "")][:4]
    metrics = run_sft(config, chosen, SCHEME, tmp_path / "sft")
    with_chain = [pair for pair in chosen if pair.label and pair.reasoning]
    def locating(pairs):
        return sum(1 for pair in pairs if "Location:" in pair.reasoning or "位置:" in pair.reasoning)

    located = locating(with_chain)
    featured = counterfactual_pairs(chosen, config.seed, ["feature"])
    # every pair that checks a district comes again with its service moved, every pair that checks a feature with
    # that feature toggled; each is oversampled like its original
    assert metrics["counterfactual_pairs"] == located + len(featured) and located > 0 and featured
    assert metrics["oversampled_examples"] == 2 * located + locating(featured)
    assert metrics["examples"] == 3 * (len(with_chain) + located + len(featured)) + metrics["oversampled_examples"]


@pytest.mark.parametrize("grouped", [False, True])
def test_sft_batches_examples_of_similar_length_when_asked(data, tmp_path, monkeypatch, grouped):
    """group_by_length reaches the installed transformers' sampler (its argument is spelt differently across
    versions); the Trainer's plain shuffle otherwise. The training loop's seconds are recorded either way."""
    import trl

    samplers = []
    original = trl.SFTTrainer._get_train_sampler

    def recording(self, *args, **kwargs):
        sampler = original(self, *args, **kwargs)
        samplers.append(type(sampler).__name__)
        return sampler

    monkeypatch.setattr(trl.SFTTrainer, "_get_train_sampler", recording)
    _, pairs = data
    config = SFTStageConfig(init="tiny", tiny_hidden_size=64, tiny_heads=1, tiny_layers=1, max_steps=3, batch_size=4,
                            max_length=256, save_steps=100, group_by_length=grouped)
    metrics = run_sft(config, pairs[:32], SCHEME, tmp_path / "sft")
    assert samplers == ["LengthGroupedSampler" if grouped else "RandomSampler"]
    assert metrics["train_runtime_seconds"] > 0 and metrics["loss_curve"]
