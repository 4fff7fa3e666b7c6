"""kustomize overlays render, every rendered resource fits the real KServe CRDs, RBAC is least privilege."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from relevance_distill.rollout.isvc import validate_against_crd

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas" / "kserve"
CRDS = {"InferenceService": "serving.kserve.io_inferenceservices.yaml", "ServingRuntime": "serving.kserve.io_servingruntimes.yaml"}

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")


def render(overlay: Path) -> list[dict]:
    output = subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True, text=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def crd(kind: str) -> Path:
    if not SCHEMAS.is_dir():
        pytest.skip(f"{SCHEMAS} is absent (KServe CRDs live in ../shared/schemas/kserve)")
    return SCHEMAS / CRDS[kind]


@needs_kubectl
@pytest.mark.parametrize("overlay", ["base", "overlays/stable", "overlays/canary", "rbac"])
def test_every_overlay_renders_and_validates(overlay):
    documents = render(ROOT / "manifests" / overlay)
    assert documents
    for document in documents:
        assert document["metadata"]["namespace"] == "relevance-distill"
        if document["kind"] in CRDS:
            assert validate_against_crd(document, crd(document["kind"])) == [], document["kind"]


@needs_kubectl
def test_canary_overlay_is_a_complete_canary():
    isvc = next(d for d in render(ROOT / "manifests" / "overlays" / "canary") if d["kind"] == "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"].endswith("/v2")
    assert predictor["model"]["modelFormat"]["name"] == "relevance-distill" and predictor["serviceAccountName"]
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/enable-tag-routing"] == "true"
    assert annotations["relevance-distill.io/previous-storage-uri"].endswith("/v1")
    stable = next(d for d in render(ROOT / "manifests" / "overlays" / "stable") if d["kind"] == "InferenceService")
    assert "canaryTrafficPercent" not in stable["spec"]["predictor"]


@needs_kubectl
def test_runtime_has_probes_and_no_secret_values():
    documents = render(ROOT / "manifests" / "overlays" / "canary")
    runtime = next(d for d in documents if d["kind"] == "ServingRuntime")
    container = runtime["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready" and container["livenessProbe"]
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert account["secrets"] == [{"name": "relevance-distill-s3"}]
    assert not any(d["kind"] == "Secret" for d in documents)
    text = yaml.safe_dump_all(documents)
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws_secret" not in text.lower()


@needs_kubectl
def test_role_grants_only_get_and_patch_on_inferenceservices_in_one_namespace():
    documents = render(ROOT / "manifests" / "rbac")
    assert not any(d["kind"] in {"ClusterRole", "ClusterRoleBinding"} for d in documents)
    role = next(d for d in documents if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "relevance-distill"
    assert role["rules"] == [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get", "patch"]}]
    binding = next(d for d in documents if d["kind"] == "RoleBinding")
    assert binding["roleRef"]["kind"] == "Role" and binding["subjects"][0]["name"] == "relevance-distill-rollout"
