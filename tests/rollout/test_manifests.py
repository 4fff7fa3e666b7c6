"""kustomize overlays render, every rendered resource fits the real KServe CRDs, RBAC is least privilege."""

from __future__ import annotations

import ast
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
def test_the_base_pins_serverless_and_carries_tags_probes_autoscaling_logger_and_a_disruption_budget():
    import json

    from relevance_distill.rollout.isvc import UNIT_HEADER, autoscaling_for, build_isvc

    documents = render(ROOT / "manifests" / "base")
    isvc = next(d for d in documents if d["kind"] == "InferenceService")
    annotations, predictor = isvc["metadata"]["annotations"], isvc["spec"]["predictor"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    assert annotations["serving.kserve.io/enable-tag-routing"] == "true"
    assert predictor["logger"]["mode"] == "all" and predictor["logger"]["url"].startswith("http://relevance-events.")
    assert predictor["logger"]["metadataHeaders"] == [UNIT_HEADER]
    # The spec in code and the base manifest say the same (the pipeline's steps build from the code).
    built = build_isvc(predictor["model"]["storageUri"], annotations["relevance-distill.io/model-version"])
    for key in ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency", "logger",
                "serviceAccountName", "model"):
        assert built["spec"]["predictor"][key] == predictor[key], key
    assert {k: v for k, v in built["metadata"]["annotations"].items()} == annotations
    # The autoscaling target is the measured throughput of one replica turned into concurrency (Little's law).
    measured = json.loads((ROOT / "benchmarks" / "results" / "serving.json").read_text())
    sizing = autoscaling_for(measured["pairs_per_s"]["http_v2"], measured["setup"]["batch"],
                             measured["latency_ms"]["http_v2"]["p50"])
    assert (predictor["scaleTarget"], predictor["containerConcurrency"]) == (sizing["scale_target"],
                                                                               sizing["container_concurrency"])
    runtime = next(d for d in documents if d["kind"] == "ServingRuntime")["spec"]["containers"][0]
    startup = runtime["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/live" and startup["periodSeconds"] * startup["failureThreshold"] >= 300
    budget = next(d for d in documents if d["kind"] == "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1 and predictor["minReplicas"] >= 2
    assert budget["spec"]["selector"]["matchLabels"] == {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"],
                                                         "component": "predictor"}


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
    sink = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "relevance-events")
    container = sink["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "relevance-distill-s3"}}] and "env" not in container
    assert container["securityContext"]["runAsNonRoot"] and container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    service = next(d for d in documents if d["kind"] == "Service" and d["metadata"]["name"] == "relevance-events")
    isvc = next(d for d in documents if d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["logger"]["url"].startswith(
        f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc")


CORE_KINDS = {"ServiceAccount", "Role", "RoleBinding", "PodDisruptionBudget", "Deployment", "Service"}


def validate_core(document: dict) -> None:
    """Core kinds against Kubernetes' own OpenAPI schemas (kubernetes-validate ships them; offline, strict)."""
    import kubernetes_validate

    kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


@needs_kubectl
@pytest.mark.parametrize("overlay", ["base", "overlays/stable", "overlays/canary", "rbac"])
def test_core_objects_validate_against_the_kubernetes_schemas(overlay):
    documents = [d for d in render(ROOT / "manifests" / overlay) if d["kind"] in CORE_KINDS]
    assert documents
    for document in documents:
        validate_core(document)


def test_core_schema_validation_catches_a_bad_field():
    import kubernetes_validate

    role = yaml.safe_load((ROOT / "manifests" / "rbac" / "role.yaml").read_text())
    role["metadata"]["namespace"] = "relevance-distill"
    validate_core(role)
    role["rules"][0]["verbs"] = "get"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(role)


def rollout_client_verbs(module=None) -> set[str]:
    """The API verbs a client module (default rollout/cluster.py) calls: the generated client's methods by name, raw
    calls by HTTP method."""
    from relevance_distill.rollout import cluster

    tree = ast.parse(Path((module or cluster).__file__).read_text(encoding="utf-8"))
    verbs = set()
    http = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}
    prefixes = {"get_": "get", "list_": "list", "patch_": "patch", "replace_": "update", "create_": "create",
                "delete_": "delete"}
    for node in ast.walk(tree):
        # A list method handed to kubernetes.watch.Watch().stream is called with watch=True: list and watch.
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "stream"
                and node.args and isinstance(node.args[0], ast.Attribute) and node.args[0].attr.startswith("list_")):
            verbs |= {"list", "watch"}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method == "call_api":
                verbs.add(http[node.args[1].value])
            elif method.endswith("_namespaced_custom_object"):
                verbs.add(next(verb for prefix, verb in prefixes.items() if method.startswith(prefix)))
            elif method in {"list_namespaced_pod", "read_namespaced_pod_log"}:
                verbs.add(method)
    return verbs


def test_only_the_cluster_client_talks_to_the_kubernetes_api():
    source = ROOT / "src" / "relevance_distill"
    clients = {source / "rollout" / "cluster.py", source / "teacher" / "trainjob.py"}
    for path in source.rglob("*.py"):
        if path in clients:
            continue
        text = path.read_text(encoding="utf-8")
        assert "CustomObjectsApi" not in text and "call_api" not in text and "CoreV1Api" not in text, path


@needs_kubectl
def test_role_allows_exactly_the_verbs_the_rollout_client_uses():
    from relevance_distill.config import KubernetesConfig

    documents = render(ROOT / "manifests" / "rbac")
    assert not any(d["kind"] in {"ClusterRole", "ClusterRoleBinding"} for d in documents)
    role = next(d for d in documents if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "relevance-distill"
    kserve_rules = [rule for rule in role["rules"] if "serving.kserve.io" in rule["apiGroups"]]
    assert len(kserve_rules) == 1 and kserve_rules[0]["resources"] == ["inferenceservices"]
    used = rollout_client_verbs()
    assert used == {"get", "patch", "list", "watch"}
    assert set(kserve_rules[0]["verbs"]) == used  # both ways: nothing missing, nothing extra
    # The multi-node teacher's TrainJob calls, each in its own rule, exactly those of teacher/trainjob.py.
    from relevance_distill.teacher import trainjob

    trainjob_calls = rollout_client_verbs(trainjob)
    assert trainjob_calls == {"create", "get", "delete", "list_namespaced_pod", "read_namespaced_pod_log"}
    trainer_rules = [rule for rule in role["rules"] if "trainer.kubeflow.org" in rule["apiGroups"]]
    assert trainer_rules == [{"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"],
                              "verbs": ["create", "get", "delete"]}]
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]} in role["rules"]
    assert {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]} in role["rules"]
    # The other rules are the platform's minimum (Argo's executor, KFP's driver/launcher), each narrow.
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        if rule["apiGroups"] == [""] and rule["resources"] not in (["pods"], ["pods/log"]):
            assert rule["verbs"] == ["get"] and rule.get("resourceNames"), rule
    binding = next(d for d in documents if d["kind"] == "RoleBinding")
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": "relevance-distill"}]
    assert account["metadata"]["name"] == KubernetesConfig().service_account  # what `submit` runs as by default


@needs_kubectl
def test_servingruntime_pods_are_hardened():
    runtime = next(d for d in render(ROOT / "manifests" / "overlays" / "canary") if d["kind"] == "ServingRuntime")
    container = runtime["spec"]["containers"][0]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]} and security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    volumes = {volume["name"]: volume for volume in runtime["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/home/app/.cache"}  # writable only where caches need it
    assert all("emptyDir" in volumes[name] for name in mounts.values())
