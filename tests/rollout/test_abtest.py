"""A/B statistics on the simulator: false-positive rate, power, SRM, decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.cli import app
from relevance_distill.config import DataGenerationConfig
from relevance_distill.data.readers import read_models
from relevance_distill.rollout.abtest import (
    ABTestConfig,
    analysis_step,
    analyze_events,
    normal_quantile,
    ratio_with_variance,
    srm_test,
)
from relevance_distill.rollout.simulate import QueryPool, simulate
from relevance_distill.schemas import QueryServicePair, get_label_scheme

ALPHA = 0.05
# Documented sample size (README): 80,000 users at 50/50 give power >= 0.8 for a 3 % CTR lift with both tests.
POWER_USERS = 80_000


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pool")
    generate_dataset(DataGenerationConfig(num_log_pairs=0, corpus_documents=0), directory)
    pairs = read_models(str(directory / "labeled.jsonl"), QueryServicePair)
    grade_of = {name: i for i, name in enumerate(get_label_scheme("local_services").names)}
    return QueryPool.from_pairs(pairs, grade_of, seed=0)


def test_normal_quantile_and_srm_math():
    assert normal_quantile(0.975) == pytest.approx(1.959963985, abs=1e-8)
    assert normal_quantile(0.001) == pytest.approx(-3.090232306, abs=1e-8)
    result = srm_test((5200, 4800), 0.5)
    assert result["chi2"] == pytest.approx(16.0) and result["p_value"] == pytest.approx(6.334e-5, rel=1e-3)


def test_delta_method_variance_matches_simulation():
    rng = np.random.default_rng(0)
    estimates, variances = [], []
    for _ in range(400):
        impressions = rng.poisson(8, 2000) + 1
        clicks = rng.binomial(impressions, rng.beta(2, 30, 2000))
        ratio, variance = ratio_with_variance(clicks.astype(float), impressions.astype(float))
        estimates.append(ratio)
        variances.append(variance)
    assert np.var(estimates) == pytest.approx(np.mean(variances), rel=0.15)


def test_aa_false_positive_rate_within_alpha_plus_two_points(pool):
    fixed = sequential = 0
    for seed in range(200):
        events, _ = simulate(pool, users=4000, split=0.5, true_ctr_lift=0.0, seed=10_000 + seed)
        result = analyze_events(events, ABTestConfig(alpha=ALPHA))["metrics"]["ctr"]
        fixed += result["p_value"] < ALPHA
        sequential += result["sequential_p_value"] < ALPHA
    print(f"A/A false-positive rate over 200 experiments: fixed {fixed / 200:.3f}, sequential {sequential / 200:.3f}")
    assert fixed / 200 <= ALPHA + 0.02
    assert sequential / 200 <= ALPHA + 0.02


def test_three_percent_ctr_lift_detected_with_power_at_documented_size(pool):
    runs, fixed, sequential, promoted = 30, 0, 0, 0
    for seed in range(runs):
        events, _ = simulate(pool, users=POWER_USERS, split=0.5, true_ctr_lift=0.03, seed=20_000 + seed)
        analysis = analyze_events(events, ABTestConfig(alpha=ALPHA))
        fixed += analysis["metrics"]["ctr"]["p_value"] < ALPHA and analysis["metrics"]["ctr"]["lift"] > 0
        sequential += analysis["metrics"]["ctr"]["sequential_p_value"] < ALPHA and analysis["metrics"]["ctr"]["lift"] > 0
        promoted += analysis["decision"] == "promote"
    print(f"power at {POWER_USERS} users, 3 % CTR lift, {runs} runs: fixed {fixed / runs:.2f}, sequential "
          f"{sequential / runs:.2f}, promoted {promoted / runs:.2f}")
    assert fixed / runs >= 0.8 and sequential / runs >= 0.8 and promoted / runs >= 0.8


def test_srm_52_48_on_100k_users_is_flagged_and_rolls_back(pool):
    events, _ = simulate(pool, users=100_000, split=0.5, allocation=0.52, seed=3, sessions_per_user=1.0, results_per_session=4)
    analysis = analyze_events(events, ABTestConfig(expected_split=0.5))
    assert analysis["srm"]["p_value"] < 1e-6
    assert analysis["decision"] == "rollback" and "sample ratio mismatch" in analysis["reasons"][0]
    honest, _ = simulate(pool, users=100_000, split=0.5, seed=3, sessions_per_user=1.0, results_per_session=4)
    assert analyze_events(honest, ABTestConfig())["srm"]["p_value"] > 0.001


def test_guardrail_breach_and_harm_roll_back(pool):
    slow, _ = simulate(pool, users=3000, seed=5, latency_ms=(20.0, 40.0))
    analysis = analyze_events(slow)
    assert analysis["decision"] == "rollback" and "p99_latency_ms" in analysis["reasons"][0]
    harmful, _ = simulate(pool, users=POWER_USERS, seed=6, true_ctr_lift=-0.10)
    analysis = analyze_events(harmful)
    assert analysis["decision"] == "rollback" and "ctr significantly worse" in analysis["reasons"][0]
    small, _ = simulate(pool, users=100, seed=7)
    assert analyze_events(small, ABTestConfig(min_users_per_variant=500))["decision"] == "continue"


def test_cli_simulate_and_analyze(tmp_path):
    events = tmp_path / "events.jsonl"
    runner = CliRunner()
    result = runner.invoke(app, ["abtest", "simulate", "--users", "3000", "--split", "0.5", "--true-ctr-lift", "0.03",
                                 "--seed", "1", "--out", str(events)])
    assert result.exit_code == 0, result.output
    with events.open("a") as handle:
        handle.write('{"variant": "treatment", "user_id": "x"}\n')  # malformed: counted, not used
    result = runner.invoke(app, ["abtest", "analyze", str(events), "--out", str(tmp_path / "out"), "--alpha", "0.05",
                                 "--expected-split", "0.5", "--primary-metric", "ctr"])
    assert result.exit_code == 0, result.output
    decision = json.loads((tmp_path / "out" / "decision.json").read_text())
    assert decision["decision"] in {"promote", "continue", "rollback"} and decision["reasons"]
    assert "p_value" in decision["srm"] and decision["rows"]["malformed"] == 1
    for metric in ("ctr", "cvr", "gtv"):
        assert {"lift", "ci_low", "ci_high", "p_value", "sequential_p_value"} <= set(decision[metric])
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "lift.png").is_file()


def test_an_undefined_lift_is_kept_out_of_the_kfp_scalars(tmp_path):
    """No GTV in the stable arm: its lift is NaN in decision.json, and KFP metrics (which refuse NaN) leave it out."""
    events = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["abtest", "simulate", "--users", "2000", "--split", "0.5", "--seed", "2",
                                      "--out", str(events)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    events.write_text("".join(json.dumps({**row, "gtv": 0.0, "order": 0} if row["variant"] == "stable" else row) + "\n"
                              for row in rows))
    document = analysis_step(str(events), ABTestConfig(expected_split=0.5), str(tmp_path / "out"))
    assert np.isnan(document["gtv"]["lift"]) and "gtv_lift" not in document["scalars"]
    assert document["scalars"] and all(np.isfinite(value) for value in document["scalars"].values())


def test_the_assignment_is_sticky_uniform_and_salted_per_experiment():
    from relevance_distill.rollout.assignment import assign, bucket

    units = [f"user-{i}" for i in range(20_000)]
    first = [assign(u, 0.1, "v2") for u in units]
    assert first == [assign(u, 0.1, "v2") for u in units]  # the same user, the same arm, every time
    share = first.count("canary") / len(units)
    assert abs(share - 0.1) < 4 * (0.1 * 0.9 / len(units)) ** 0.5
    other = [assign(u, 0.1, "v3") for u in units]
    overlap = sum(a == b == "canary" for a, b in zip(first, other)) / len(units)
    assert abs(overlap - 0.01) < 0.004  # a new experiment re-randomises: independent of the last one
    assert 0 <= min(bucket(u, "v2") for u in units) and max(bucket(u, "v2") for u in units) < 1
    with pytest.raises(ValueError, match="X-Relevance-Unit"):
        assign("", 0.1, "v2")


def test_users_seen_in_both_arms_are_reported_left_out_and_roll_back_when_too_many(pool):
    sticky, _ = simulate(pool, users=4000, seed=11)
    analysis = analyze_events(sticky)
    assert analysis["users_in_both_arms"]["users"] == 0
    loose, _ = simulate(pool, users=4000, seed=11, crossover=0.2, sessions_per_user=3.0)
    analysis = analyze_events(loose)
    crossed = analysis["users_in_both_arms"]
    assert 0.05 < crossed["share"] < 0.2  # a loose user with several searches usually lands in both arms
    assert sum(analysis["users"].values()) + crossed["users"] == len(np.unique(loose.user))
    assert analysis["decision"] == "rollback" and "seen in both arms" in analysis["reasons"][0]
    tolerant = analyze_events(loose, ABTestConfig(max_crossover_share=0.5))
    assert not any("seen in both arms" in reason for reason in tolerant["reasons"])


def test_the_tag_addresses_are_read_from_status_only_while_a_canary_runs():
    from relevance_distill.rollout.assignment import arm_addresses
    from relevance_distill.rollout.isvc import build_isvc
    from relevance_distill.rollout.patches import (
        apply_request,
        canary_plan,
        rollback_plan,
    )
    from relevance_distill.rollout.serverless_model import ServerlessModel

    model = ServerlessModel(build_isvc("s3://m/v1", "v1"))
    assert arm_addresses(model.object()) == {}
    for build in canary_plan(model.object(), "s3://m/v2", "v2", 10):
        model.apply(apply_request(model.object(), build(model.object()).request))
        model.ready()
    addresses = arm_addresses(model.object())
    assert addresses["canary"].startswith("http://latest-") and addresses["stable"].startswith("http://prev-")
    pin = rollback_plan(model.object())[0]
    model.apply(apply_request(model.object(), pin(model.object()).request))
    assert arm_addresses(model.object()) == {}  # pinned: the front end goes back to the main address
