"""Who gets what traffic at every moment of every rollout sequence, under KServe's own rules
(``rollout/serverless_model.py``, written from KServe's reconciler), first in process, then over HTTP through the
kubernetes client against a loopback API server built on the same model, with the CLI and the pipeline's step."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from relevance_distill.cli import app
from relevance_distill.rollout.isvc import InferenceServiceConfig, build_isvc
from relevance_distill.rollout.patches import (
    STORAGE_URI,
    PatchRequest,
    RolloutStateError,
    apply_request,
    canary_plan,
    promote_plan,
    rollback_plan,
)
from relevance_distill.rollout.serverless_model import ServerlessModel
from relevance_distill.rollout.status import unmet

STABLE, CANDIDATE, NEXT = "s3://models/relevance/v1", "s3://models/relevance/v2", "s3://models/relevance/v3"
runner = CliRunner()


def drive(model: ServerlessModel, plan, shares: list[dict[str, int]], outcome: str = "ready") -> None:
    """Send each step as the API server would store it, record the traffic right after the patch and after the new
    revision settles, and check that the step's expectation then holds."""
    for build in plan:
        step = build(model.object())
        model.apply(apply_request(model.object(), step.request))
        shares.append(model.shares())
        if model.revisions[-1].state == "pending":
            model.ready() if outcome == "ready" else model.fail(outcome)
            shares.append(model.shares())
        assert unmet(model.object(), step.expect) is None, (step.name, unmet(model.object(), step.expect))


@pytest.fixture
def model():
    return ServerlessModel(build_isvc(STABLE, "v1"))


def test_canary_then_promote(model):
    seen: list[dict[str, int]] = []
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    assert seen == [{STABLE: 100}, {STABLE: 90, CANDIDATE: 10}]  # the canary gets traffic only once it is ready
    drive(model, promote_plan(model.object()), seen)
    assert seen[2:] == [{CANDIDATE: 100}, {CANDIDATE: 100}]


def test_canary_then_rollback_never_gives_the_canary_more_than_its_share(model):
    seen: list[dict[str, int]] = []
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    before = len(seen)
    plan = rollback_plan(model.object())
    assert [build.__name__ for build in plan] == ["pin_step", "restore_step", "clean_step"]
    drive(model, plan, seen)
    assert all(share == {STABLE: 100} for share in seen[before:]), seen  # from the pin on, the canary gets nothing
    assert "canaryTrafficPercent" not in model.object()["spec"]["predictor"]


def test_canary_on_a_running_canary_replaces_the_candidate_and_keeps_the_stable_share(model):
    seen: list[dict[str, int]] = []
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    drive(model, canary_plan(model.object(), NEXT, "v3", 10), seen)
    assert seen[-2:] == [{STABLE: 90, CANDIDATE: 10}, {STABLE: 90, NEXT: 10}]
    drive(model, rollback_plan(model.object()), seen)
    assert seen[-1] == {STABLE: 100}
    assert model.object()["spec"]["predictor"]["model"]["storageUri"] == STABLE


def test_a_retried_canary_step_changes_nothing_and_waits_again(model):
    seen: list[dict[str, int]] = []
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    revisions = len(model.revisions)
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    assert len(model.revisions) == revisions and seen[-1] == {STABLE: 90, CANDIDATE: 10}


def test_rollback_twice_and_a_rollback_that_stopped_half_way(model):
    seen: list[dict[str, int]] = []
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen)
    drive(model, rollback_plan(model.object())[:1], seen)  # only the pin went through, then the step died
    assert seen[-1] == {STABLE: 100}
    resumed = rollback_plan(model.object())
    assert [build.__name__ for build in resumed] == ["restore_step", "clean_step"]
    drive(model, resumed, seen)
    assert seen[-1] == {STABLE: 100}
    with pytest.raises(RolloutStateError, match="no canary to roll back"):
        rollback_plan(model.object())
    with pytest.raises(RolloutStateError, match="no canary to promote"):
        promote_plan(model.object())


def test_a_canary_that_never_starts_is_rolled_back_without_it_ever_serving(model):
    seen: list[dict[str, int]] = []
    with pytest.raises(AssertionError, match="not ready"):
        drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), seen, outcome="model does not load")
    assert seen == [{STABLE: 100}, {STABLE: 100}]
    drive(model, rollback_plan(model.object()), seen)
    assert all(share == {STABLE: 100} for share in seen)
    assert model.object()["status"]["conditions"][-2]["type"] == "Ready"


def test_promote_refuses_a_half_done_rollback(model):
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), [])
    drive(model, rollback_plan(model.object())[:1], [])
    with pytest.raises(RolloutStateError, match="rollback has started"):
        promote_plan(model.object())
    with pytest.raises(RolloutStateError, match="has not finished"):
        canary_plan(model.object(), NEXT, "v3", 10)


def test_the_old_single_patch_rollback_gives_the_rolled_back_model_all_traffic(model):
    """What the rollback used to send (previous storageUri and no canaryTrafficPercent in one patch): until the new
    revision is ready, 'latest' still means the canary, which then takes 100 %. The model shows it."""
    drive(model, canary_plan(model.object(), CANDIDATE, "v2", 10), [])
    live = model.object()
    legacy = PatchRequest("relevance-distill", "relevance", [
        {"op": "replace", "path": STORAGE_URI, "value": STABLE},
        {"op": "remove", "path": "/spec/predictor/canaryTrafficPercent"}])
    model.apply(apply_request(live, legacy))
    assert model.shares() == {CANDIDATE: 100}


# -- over HTTP, through the kubernetes client ---------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    from kserve_api import KServeApi

    with KServeApi(build_isvc(STABLE, "v1"), ready_after=0.3) as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield api


def test_the_cli_waits_after_each_step_and_the_rollback_never_routes_to_the_canary(cluster):
    result = runner.invoke(app, ["rollout", "canary", "--model-uri", CANDIDATE, "--percent", "10", "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert "waiting for relevance-distill/relevance: revision" in result.output and "canary: done" in result.output
    assert cluster.timeline[-1][1] == {STABLE: 90, CANDIDATE: 10}
    mark = len(cluster.timeline)
    result = runner.invoke(app, ["rollout", "rollback", "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert "applied: pin, restore, clean" in result.output
    assert all(share == {STABLE: 100} for _, share in cluster.timeline[mark:]), cluster.timeline[mark:]
    patches = [r for r in cluster.requests if r["verb"] == "patch"]
    assert len(patches) == 4 and all(r["content_type"] == "application/json-patch+json" for r in patches)
    assert {r["verb"] for r in cluster.requests} == {"get", "patch", "watch"}  # the Role's verbs (list + watch)


def test_a_canary_that_does_not_become_ready_fails_the_step_with_the_reason(cluster):
    cluster.outcome[CANDIDATE] = ("storage-initializer: s3://models/relevance/v2 not found", 0.1)
    result = runner.invoke(app, ["rollout", "canary", "--model-uri", CANDIDATE, "--timeout", "2"])
    assert result.exit_code == 2, result.output
    assert "did not reach" in result.output and "not found" in result.output
    assert "running the same command again goes on from there" in result.output
    assert cluster.timeline[-1][1] == {STABLE: 100}
    result = runner.invoke(app, ["rollout", "rollback", "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert all(share == {STABLE: 100} for _, share in cluster.timeline)


def test_the_pipeline_steps_in_apply_mode_wait_and_report_every_request(cluster, tmp_path):
    from relevance_distill.rollout.deploy import deploy_canary, promote_or_rollback

    config = InferenceServiceConfig(deploy_mode="apply", rollout_timeout_seconds=20)
    deployed = deploy_canary(CANDIDATE, "v2", "apply", config)
    assert [r["step"] for r in deployed["requests"]] == ["canary"]
    promoted = promote_or_rollback("promote", "apply", config)
    assert [r["step"] for r in promoted["requests"]] == ["promote"]
    assert cluster.timeline[-1][1] == {CANDIDATE: 100}
    assert promoted["resource"]["status"]["components"]["predictor"]["traffic"][0]["percent"] == 100


def test_the_readme_traffic_table_is_the_models():
    from pathlib import Path

    from relevance_distill.rollout.serverless_model import traffic_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- traffic-table:start -->\n", 1)[1].split("\n<!-- traffic-table:end -->", 1)[0]
    assert table == traffic_table()
