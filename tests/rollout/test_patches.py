"""The rollout verbs as a cluster receives them: `relevance-distill rollout … --dry-run` prints JSON Patch requests,
which are applied here with a maintained RFC 6902 implementation (jsonpatch) to live objects shaped as an API server
returns them, chained stable → canary → promote, and stable → canary → rollback."""

from __future__ import annotations

import json
from pathlib import Path

import jsonpatch
import pytest
import yaml
from typer.testing import CliRunner

from relevance_distill.cli import app
from relevance_distill.rollout.isvc import (
    PREVIOUS_URI_ANNOTATION,
    PREVIOUS_VERSION_ANNOTATION,
    VERSION_ANNOTATION,
    build_isvc,
    validate_against_crd,
)
from relevance_distill.rollout.patches import (
    CANARY_PERCENT,
    JSON_PATCH,
    STORAGE_URI,
    canary_step,
    promote_step,
)

CRD = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "kserve" / "serving.kserve.io_inferenceservices.yaml"
STABLE, CANDIDATE = "s3://models/relevance/v1", "s3://models/relevance/v2"
SERVER_OWNED = ("/status", "/metadata/managedFields", "/metadata/resourceVersion", "/metadata/uid",
                "/metadata/generation", "/metadata/creationTimestamp")
runner = CliRunner()


def as_served(resource: dict, resource_version: str) -> dict:
    """RESOURCE as `kubectl get -o yaml` shows it: with the fields the API server owns."""
    served = json.loads(json.dumps(resource))
    served["metadata"].update({
        "resourceVersion": resource_version, "uid": "2f1c7a9e-5b8d-4c1e-9f0a-1d2e3f4a5b6c", "generation": 3,
        "creationTimestamp": "2026-11-30T08:00:00Z",
        "managedFields": [{"manager": "argocd-controller", "operation": "Apply", "apiVersion": "serving.kserve.io/v1beta1",
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:predictor": {}}}}]})
    served["status"] = {"url": "http://relevance.relevance-distill.example.com", "observedGeneration": 3,
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T08:01:00Z"}],
                        "components": {"predictor": {"latestReadyRevision": "relevance-predictor-00003",
                                                     "traffic": [{"revisionName": "relevance-predictor-00003",
                                                                  "percent": 100, "latestRevision": True}]}}}
    return served


def dry_run(tmp_path: Path, live: dict, *verb: str) -> list[dict]:
    live_file = tmp_path / f"live-{len(list(tmp_path.iterdir()))}.yaml"
    live_file.write_text(yaml.safe_dump(live), encoding="utf-8")
    result = runner.invoke(app, ["rollout", *verb, "--live", str(live_file), "--dry-run"])
    assert result.exit_code == 0, result.output
    requests = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    for request in requests:
        assert request["step"] in {"canary", "promote", "pin", "restore", "clean"}
        assert request["method"] == "PATCH" and request["content_type"] == JSON_PATCH
        assert request["path"] == "/apis/serving.kserve.io/v1beta1/namespaces/relevance-distill/inferenceservices/relevance"
        written = [op["path"] for op in request["body"] if op["op"] != "test"]
        assert not [p for p in written if p.startswith(SERVER_OWNED)], written  # nothing the server owns is sent
    return requests


def apply(live: dict, requests: list[dict]) -> dict:
    for request in requests:
        live = jsonpatch.apply_patch(live, request["body"])
    return live


def check_crd(resource: dict) -> None:
    if CRD.is_file():
        assert validate_against_crd(resource, CRD) == []


@pytest.fixture
def stable():
    return as_served(build_isvc(STABLE, "v1"), resource_version="41")


def canary_of(tmp_path, stable):
    requests = dry_run(tmp_path, stable, "canary", "--model-uri", CANDIDATE, "--percent", "10")
    assert len(requests) == 1
    return apply(stable, requests)


def test_canary_then_promote(tmp_path, stable):
    canary = canary_of(tmp_path, stable)
    predictor = canary["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == CANDIDATE and predictor["canaryTrafficPercent"] == 10
    annotations = canary["metadata"]["annotations"]
    assert annotations[PREVIOUS_URI_ANNOTATION] == STABLE and annotations[PREVIOUS_VERSION_ANNOTATION] == "v1"
    assert annotations[VERSION_ANNOTATION] == "v2"
    assert canary["status"] == stable["status"] and canary["metadata"]["managedFields"] == stable["metadata"]["managedFields"]
    check_crd(canary)

    canary["metadata"]["resourceVersion"] = "42"  # the server moved on; the patch does not carry a stale version
    promoted = apply(canary, dry_run(tmp_path, canary, "promote"))
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == CANDIDATE
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]  # the new model serves 100 %
    annotations = promoted["metadata"]["annotations"]
    assert PREVIOUS_URI_ANNOTATION not in annotations and PREVIOUS_VERSION_ANNOTATION not in annotations
    assert annotations[VERSION_ANNOTATION] == "v2"
    check_crd(promoted)


def test_canary_then_rollback(tmp_path, stable):
    canary = canary_of(tmp_path, stable)
    requests = dry_run(tmp_path, canary, "rollback")
    assert [r["step"] for r in requests] == ["pin", "restore", "clean"]
    # The first request pins all traffic to the previously rolled-out revision and changes nothing else: the
    # canary's storageUri is still in place (guarded), so no revision is created.
    first = requests[0]["body"]
    assert [op for op in first if op["op"] != "test"] == [{"op": "add", "path": CANARY_PERCENT, "value": 0}]
    assert {"op": "test", "path": STORAGE_URI, "value": CANDIDATE} in first
    pinned = apply(canary, requests[:1])
    assert pinned["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert pinned["spec"]["predictor"]["model"]["storageUri"] == CANDIDATE
    check_crd(pinned)
    restored = apply(canary, requests[:2])
    assert restored["spec"]["predictor"]["model"]["storageUri"] == STABLE
    assert restored["spec"]["predictor"]["canaryTrafficPercent"] == 0
    rolled_back = apply(canary, requests)
    predictor = rolled_back["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == STABLE and "canaryTrafficPercent" not in predictor
    annotations = rolled_back["metadata"]["annotations"]
    assert annotations[VERSION_ANNOTATION] == "v1"
    assert PREVIOUS_URI_ANNOTATION not in annotations and PREVIOUS_VERSION_ANNOTATION not in annotations
    # Everything else is as before the canary.
    assert {k: v for k, v in rolled_back.items() if k != "metadata"} == {k: v for k, v in stable.items() if k != "metadata"}
    check_crd(rolled_back)


def test_a_merge_patch_of_the_clean_spec_would_leave_the_canary_behind(stable):
    """Why JSON Patch: RFC 7386 keeps every key the patch omits (what the old client sent)."""
    canary = jsonpatch.apply_patch(stable, canary_step(stable, CANDIDATE, "v2", 10).request.body)
    clean = json.loads(json.dumps(canary))
    del clean["spec"]["predictor"]["canaryTrafficPercent"]

    def merge(target, patch):  # RFC 7386 section 2, as the API server applies application/merge-patch+json
        if not isinstance(patch, dict):
            return patch
        target = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            target.pop(key, None) if value is None else target.__setitem__(key, merge(target.get(key), value))
        return target

    assert merge(canary, clean)["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert "canaryTrafficPercent" not in jsonpatch.apply_patch(canary, promote_step(canary).request.body)["spec"]["predictor"]


def test_guards_refuse_a_changed_object_and_wrong_states(tmp_path, stable):
    canary = canary_of(tmp_path, stable)
    request = promote_step(canary).request
    canary["spec"]["predictor"]["model"]["storageUri"] = "s3://models/relevance/v3"  # someone else rolled out v3
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(canary, request.body)

    for verb in (["promote"], ["rollback"]):
        live_file = tmp_path / "stable.yaml"
        live_file.write_text(yaml.safe_dump(stable), encoding="utf-8")
        result = runner.invoke(app, ["rollout", *verb, "--live", str(live_file), "--dry-run"])
        assert result.exit_code == 2 and "no canary" in result.output
    canary = canary_of(tmp_path, stable)
    live_file = tmp_path / "canary.yaml"
    live_file.write_text(yaml.safe_dump(canary), encoding="utf-8")
    # A canary on a running canary replaces the candidate; the stable model stays what a rollback restores.
    result = runner.invoke(app, ["rollout", "canary", "--live", str(live_file), "--model-uri", "s3://x/v3", "--dry-run"])
    assert result.exit_code == 0, result.output
    replaced = apply(canary, [json.loads(result.output)])
    assert replaced["metadata"]["annotations"][PREVIOUS_URI_ANNOTATION] == STABLE
    assert replaced["spec"]["predictor"]["model"]["storageUri"] == "s3://x/v3"
    result = runner.invoke(app, ["rollout", "canary", "--live", str(live_file), "--model-uri", "s3://x/v3",
                                 "--percent", "100", "--dry-run"])
    assert result.exit_code == 2
