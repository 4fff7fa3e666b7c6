"""InferenceService specs in code: build, canary, promote, rollback; GitOps overlays; CRD validity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from relevance_distill.rollout.deploy import deploy_canary, promote_or_rollback, render
from relevance_distill.rollout.isvc import (
    PREVIOUS_URI_ANNOTATION,
    VERSION_ANNOTATION,
    InferenceServiceConfig,
    build_isvc,
    validate_against_crd,
)
from relevance_distill.rollout.patches import canary, promote, rollback

CRD = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "kserve" / "serving.kserve.io_inferenceservices.yaml"


@pytest.fixture
def crd_path():
    if not CRD.is_file():
        pytest.skip(f"{CRD} is absent")
    return CRD


def test_specs_validate_and_verbs_do_what_they_say(crd_path):
    stable = build_isvc("s3://b/models/relevance/v1", "v1")
    assert validate_against_crd(stable, crd_path) == []
    candidate = canary(stable, "s3://b/models/relevance/v2", "v2", 10)
    assert validate_against_crd(candidate, crd_path) == []
    assert candidate["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert candidate["spec"]["predictor"]["model"]["storageUri"].endswith("/v2")
    assert candidate["metadata"]["annotations"][PREVIOUS_URI_ANNOTATION].endswith("/v1")
    assert "canaryTrafficPercent" not in stable["spec"]["predictor"]  # the input is not mutated

    promoted = promote(candidate)
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]
    assert promoted["spec"]["predictor"]["model"]["storageUri"].endswith("/v2")
    assert PREVIOUS_URI_ANNOTATION not in promoted["metadata"]["annotations"]
    back = rollback(candidate)
    assert back["spec"]["predictor"]["model"]["storageUri"].endswith("/v1")  # the replaced model serves again
    assert "canaryTrafficPercent" not in back["spec"]["predictor"]
    assert back["metadata"]["annotations"][VERSION_ANNOTATION] == "v1"
    for spec in (promoted, back):
        assert validate_against_crd(spec, crd_path) == []
    with pytest.raises(ValueError, match="no canary"):
        rollback(stable)
    with pytest.raises(ValueError, match="between 1 and 99"):
        canary(stable, "s3://b/x", "x", 100)


def test_crd_validation_catches_bad_values(crd_path):
    spec = build_isvc("s3://b/m", "v1")
    spec["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    spec["spec"]["predictor"]["minReplicas"] = "one"
    errors = validate_against_crd(spec, crd_path)
    assert any("canaryTrafficPercent" in e for e in errors) and any("minReplicas" in e for e in errors)


def test_config_refuses_bad_values():
    with pytest.raises(ValueError):
        InferenceServiceConfig(canary_traffic_percent=150)
    with pytest.raises(ValueError):
        InferenceServiceConfig(replicas=3)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_gitops_deploy_promote_rollback_render(tmp_path, crd_path):
    result = deploy_canary("s3://b/models/relevance/crsd-1", "crsd-1", "gitops", gitops_dir=tmp_path,
                           stable_model_uri="s3://b/models/relevance/vanilla-1", stable_version="vanilla-1")
    assert sorted(Path(f).name for f in result["files"]) == ["canary-storage-uri.yaml", "canary-traffic-percent.yaml", "kustomization.yaml"]
    rendered = [d for d in yaml.safe_load_all(Path(result["rendered"]).read_text()) if d]
    isvc = next(d for d in rendered if d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://b/models/relevance/crsd-1"
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert validate_against_crd(isvc, crd_path) == []

    rolled = promote_or_rollback("rollback", "gitops", gitops_dir=tmp_path, current=result["resource"])
    assert rolled["action"] == "gitops"
    # GitOps cannot wait for a revision, so the canary overlay stays at 0 % with the previous model restored: every
    # moment of the sync sends all traffic to the previously rolled-out revision.
    isvc = next(d for d in yaml.safe_load_all(render(tmp_path / "overlays" / "canary")) if d and d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://b/models/relevance/vanilla-1"
    assert validate_against_crd(isvc, crd_path) == []
    isvc = next(d for d in yaml.safe_load_all(render(tmp_path / "overlays" / "stable")) if d and d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://b/models/relevance/vanilla-1"
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]

    promote_or_rollback("promote", "gitops", gitops_dir=tmp_path, current=result["resource"])
    isvc = next(d for d in yaml.safe_load_all(render(tmp_path / "overlays" / "stable")) if d and d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://b/models/relevance/crsd-1"
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"] and not (tmp_path / "overlays" / "canary").exists()
    assert promote_or_rollback("continue", "gitops")["action"] == "none"
    with pytest.raises(ValueError, match="allowed"):
        promote_or_rollback("ship-it", "gitops")
