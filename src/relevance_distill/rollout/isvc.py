"""KServe InferenceService specs for the student, built with the kserve SDK models, and the rollout verbs.

The predictor runs on our ``relevance-distill`` ServingRuntime (``manifests/base/servingruntime.yaml``), so
the InferenceService names a model format and a ``storageUri``; KServe's storage initializer pulls the
export into ``/mnt/models`` with the credentials of the ServiceAccount's Secret (referenced by name only).

Rollout verbs (KServe canary semantics: the newest revision gets ``canaryTrafficPercent``, the previously
rolled-out one the rest) are defined once, as JSON Patches, in ``patches.py``; ``canary``/``promote``/``rollback``
here return the object those patches produce.

Two ways to act: ``apply`` (Kubernetes API through ``cluster.py``, in-cluster or kubeconfig) and ``gitops``
(write the overlay patch files for Argo CD / Flux instead of touching the cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from relevance_distill.schemas import StrictModel

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODEL_FORMAT = "relevance-distill"
VERSION_ANNOTATION = "relevance-distill.io/model-version"
PREVIOUS_URI_ANNOTATION = "relevance-distill.io/previous-storage-uri"
PREVIOUS_VERSION_ANNOTATION = "relevance-distill.io/previous-model-version"
TAG_ROUTING_ANNOTATION = "serving.kserve.io/enable-tag-routing"
#: Canary rollout exists only in KServe's Serverless mode; pinned so a cluster defaulting to RawDeployment cannot
#: silently ignore ``canaryTrafficPercent``.
DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
DEPLOYMENT_MODE = "Serverless"
#: Where KServe's request logger sends every request and response as a CloudEvent (``rollout/events.py`` receives).
DEFAULT_EVENT_SINK_URL = "http://relevance-events.relevance-distill.svc.cluster.local/events"
#: The request header that carries the randomisation unit (the user id, or its hash) from the front end; the logger
#: forwards it in each event's ``metadata`` so the A/B analysis can count users, not requests.
UNIT_HEADER = "X-Relevance-Unit"


def autoscaling_for(pairs_per_second: float, pairs_per_request: int, latency_p50_ms: float) -> dict[str, int]:
    """Knative concurrency target and hard limit for one replica, from its measured throughput (Little's law).

    A replica serving ``pairs_per_second`` in requests of ``pairs_per_request`` pairs, each taking ``latency_p50_ms``,
    is saturated at ``in_flight = requests/s × latency`` concurrent requests. ``scaleTarget`` is that number (rounded,
    at least 1; Knative's autoscaler aims at 70 % of it, which leaves the headroom), ``containerConcurrency`` one more,
    so at most one request waits in the replica's queue (bounded extra latency) and the rest go to other replicas."""
    in_flight = pairs_per_second / pairs_per_request * latency_p50_ms / 1000
    target = max(1, round(in_flight))
    return {"scale_target": target, "container_concurrency": target + 1}


class InferenceServiceConfig(StrictModel):
    """How the student's InferenceService looks in the cluster."""

    name: str = Field(default="relevance", description="InferenceService name (also the model name in URLs).")
    namespace: str = Field(default="relevance-distill", description="Namespace of the InferenceService.")
    service_account: str = Field(
        default="relevance-distill-predictor", description="ServiceAccount whose Secret grants read access to the model bucket."
    )
    runtime: str = Field(default="relevance-distill", description="ServingRuntime name (manifests/base/servingruntime.yaml).")
    cpu_request: str = Field(default="1", description="CPU request of the predictor container.")
    cpu_limit: str = Field(default="2", description="CPU limit of the predictor container.")
    memory_request: str = Field(default="1Gi", description="Memory request.")
    memory_limit: str = Field(default="2Gi", description="Memory limit.")
    min_replicas: int = Field(default=2, ge=0, description="Minimum replicas (0 allows scale to zero). Two, so that the "
                              "PodDisruptionBudget (one unavailable at a time) lets a node drain without an outage.")
    max_replicas: int = Field(default=4, ge=1, description="Maximum replicas for KServe autoscaling.")
    scale_metric: Literal["concurrency", "rps"] = Field(
        default="concurrency", description="What Knative's autoscaler scales on (concurrent requests per replica).")
    scale_target: int = Field(default=1, ge=1, description="Autoscaling target per replica in scale_metric units; "
                              "the default is autoscaling_for() of benchmarks/results/serving.json (HTTP V2, 2 CPUs).")
    container_concurrency: int = Field(default=2, ge=0, description="Hard limit of concurrent requests per replica "
                                       "(0: unlimited); the default is autoscaling_for() of the same measurement.")
    event_sink_url: str = Field(default=DEFAULT_EVENT_SINK_URL, description="KServe request logger target (every request "
                                "and response as a CloudEvent, for the A/B analysis); empty turns the logger off.")
    rollout_timeout_seconds: float = Field(default=900, gt=0, description="How long each rollout step waits for the "
                                           "InferenceService to show the expected revision and traffic (apply mode).")
    canary_traffic_percent: int = Field(default=10, ge=0, le=100, description="Traffic share of a new canary.")
    protocol_version: str = Field(default="v2", description="Protocol KServe advertises for the model ('v1' or 'v2').")
    deploy_mode: Literal["apply", "gitops"] = Field(
        default="gitops", description="How the rollout steps act: 'gitops' writes overlay patch files for Argo CD / Flux; "
        "'apply' patches the live InferenceService through the Kubernetes API.")


def build_isvc(storage_uri: str, model_version: str, config: InferenceServiceConfig | None = None) -> dict[str, Any]:
    """A complete InferenceService (as a plain dict) serving ``storage_uri``."""
    from kserve import (
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1LoggerSpec,
        V1beta1ModelFormat,
        V1beta1ModelSpec,
        V1beta1PredictorSpec,
    )
    from kubernetes.client import ApiClient, V1ObjectMeta, V1ResourceRequirements

    config = config or InferenceServiceConfig()
    isvc = V1beta1InferenceService(
        api_version=f"{GROUP}/{VERSION}",
        kind="InferenceService",
        metadata=V1ObjectMeta(
            name=config.name, namespace=config.namespace,
            labels={"app.kubernetes.io/name": "relevance-distill", "app.kubernetes.io/component": "predictor"},
            annotations={DEPLOYMENT_MODE_ANNOTATION: DEPLOYMENT_MODE, TAG_ROUTING_ANNOTATION: "true",
                         VERSION_ANNOTATION: model_version},
        ),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            service_account_name=config.service_account,
            min_replicas=config.min_replicas,
            max_replicas=config.max_replicas,
            scale_metric=config.scale_metric,
            scale_target=config.scale_target,
            container_concurrency=config.container_concurrency,
            logger=V1beta1LoggerSpec(mode="all", url=config.event_sink_url,
                                                               metadata_headers=[UNIT_HEADER]) if config.event_sink_url else None,
            model=V1beta1ModelSpec(
                name="kserve-container",
                model_format=V1beta1ModelFormat(name=MODEL_FORMAT),
                runtime=config.runtime,
                protocol_version=config.protocol_version,
                storage_uri=storage_uri,
                resources=V1ResourceRequirements(
                    requests={"cpu": config.cpu_request, "memory": config.memory_request},
                    limits={"cpu": config.cpu_limit, "memory": config.memory_limit},
                ),
            ),
        )),
    )
    return ApiClient().sanitize_for_serialization(isvc)


def current_storage_uri(isvc: dict[str, Any]) -> str:
    return isvc["spec"]["predictor"]["model"]["storageUri"]


def to_yaml(resource: dict[str, Any]) -> str:
    return yaml.safe_dump(resource, sort_keys=False)


# -- validation against the real CRD ------------------------------------------------------------------

def crd_schema(crd_path: str | Path, version: str = VERSION) -> dict[str, Any]:
    document = yaml.safe_load(Path(crd_path).read_text(encoding="utf-8"))
    for entry in document["spec"]["versions"]:
        if entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]
    raise ValueError(f"CRD {crd_path} has no version {version!r}")


def validate_against_crd(resource: dict[str, Any], crd_path: str | Path) -> list[str]:
    """Errors of ``resource`` against the CRD's OpenAPI v3 schema (empty when valid)."""
    import jsonschema

    version = str(resource.get("apiVersion", f"{GROUP}/{VERSION}")).rpartition("/")[2]
    validator = jsonschema.Draft7Validator(crd_schema(crd_path, version))
    return [f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(resource), key=lambda e: list(e.absolute_path))]


# -- acting: Kubernetes API or GitOps -----------------------------------------------------------------

def _patch(resource: dict[str, Any], annotations: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in resource["metadata"].get("annotations", {}).items() if key in annotations}
    metadata: dict[str, Any] = {"name": resource["metadata"]["name"]}
    if kept:
        metadata["annotations"] = kept
    return {"apiVersion": resource["apiVersion"], "kind": resource["kind"], "metadata": metadata, "spec": spec}


def write_gitops(resource: dict[str, Any], overlay_dir: str | Path, base: str = "../stable") -> list[Path]:
    """Write ``resource`` as a kustomize overlay of small patches, each named after what it changes.

    A canary (or rolled-back canary) becomes ``canary-storage-uri.yaml`` + ``canary-traffic-percent.yaml``
    on top of ``base``; a promoted spec (no canary fields) becomes ``storage-uri.yaml``. Argo CD / Flux sync
    the overlay; the cluster is never touched from here.
    """
    overlay = Path(overlay_dir)
    overlay.mkdir(parents=True, exist_ok=True)
    predictor = resource["spec"]["predictor"]
    uri_spec = {"predictor": {"model": {"storageUri": predictor["model"]["storageUri"]}}}
    if "canaryTrafficPercent" in predictor:
        patches = {
            "canary-storage-uri.yaml": _patch(resource, [VERSION_ANNOTATION, PREVIOUS_URI_ANNOTATION], uri_spec),
            "canary-traffic-percent.yaml": _patch(resource, [], {"predictor": {"canaryTrafficPercent": predictor["canaryTrafficPercent"]}}),
        }
    else:
        patches = {"storage-uri.yaml": _patch(resource, [VERSION_ANNOTATION], uri_spec)}
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [base], "patches": [{"path": name} for name in patches]}
    written = [overlay / "kustomization.yaml"]
    written[0].write_text(to_yaml(kustomization), encoding="utf-8")
    for name, patch in patches.items():
        (overlay / name).write_text(to_yaml(patch), encoding="utf-8")
        written.append(overlay / name)
    return written
