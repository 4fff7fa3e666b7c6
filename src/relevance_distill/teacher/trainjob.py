"""A teacher step on more than one node: a Kubeflow Trainer ``TrainJob`` that runs it, submitted and waited for.

The step's arguments go to S3 (``request.pkl``); the TrainJob's trainer runs ``torchrun -m
relevance_distill.teacher.worker REQUEST RESULT`` on every node (the Trainer's torch runtime sets torchrun's
``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` and ``PET_MASTER_*``), the main worker writes the result back
to S3, and the waiting step reads it. The waiter reports the job's conditions as they change, prints the last lines of
node 0's log when the job ends, and fails with the job's own reason and message (or on its timeout, deleting the
job). It is the pattern of the PyTorchJob launcher component in kubeflow/pipelines, for Trainer v2.

Modelled on kubeflow/trainer ``pkg/apis/trainer/v1alpha1/trainjob_types.go`` (commit 0015772c, the API types and
the condition types Complete, Failed, Suspended) and ``manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml``
(commit 0f13bb7a, the schema ``TRAINJOB_SCHEMA`` restates for the fields written here). The Role in
``manifests/rbac/role.yaml`` grants exactly the calls of ``TrainJobClient`` (a test compares).
"""

from __future__ import annotations

import pickle
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from relevance_distill import storage
from relevance_distill.config import TrainJobConfig
from relevance_distill.devices import GPUS_ENVIRONMENT

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
# trainjob_types.go: the condition types a TrainJob's status reports.
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
# The JobSet the Trainer creates for a TrainJob carries its name; its pods carry this label.
POD_SELECTOR = "jobset.sigs.k8s.io/jobset-name={name}"
WORKER_MODULE = "relevance_distill.teacher.worker"

_QUANTITY = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
_RESOURCES = {"type": "object", "additionalProperties": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": _QUANTITY}]}}
_ENV = {"type": "array", "maxItems": 128, "items": {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "valueFrom": {
        "type": "object", "additionalProperties": False, "properties": {"secretKeyRef": {
            "type": "object", "required": ["key"], "additionalProperties": False,
            "properties": {"key": {"type": "string"}, "name": {"type": "string"}, "optional": {"type": "boolean"}}}}}}}}
_STRINGS = {"type": "array", "maxItems": 128, "items": {"type": "string", "maxLength": 65536}}
# The CRD's schema for every field this module writes (types, bounds, required fields, the name rule of its
# x-kubernetes-validations); fields it never writes are refused, so a typo cannot pass as an unknown field.
TRAINJOB_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": f"{GROUP}/{VERSION}"}, "kind": {"const": KIND},
        "metadata": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
            "namespace": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {"type": "object", "required": ["runtimeRef"], "additionalProperties": False, "properties": {
            "runtimeRef": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253},
                "apiGroup": {"type": "string", "maxLength": 253}, "kind": {"type": "string", "maxLength": 253}}},
            "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
            "suspend": {"type": "boolean"},
            "trainer": {"type": "object", "additionalProperties": False, "properties": {
                "image": {"type": "string", "maxLength": 500}, "command": _STRINGS, "args": _STRINGS, "env": _ENV,
                "numNodes": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                "numProcPerNode": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                "resourcesPerNode": {"type": "object", "additionalProperties": False,
                                     "properties": {"limits": _RESOURCES, "requests": _RESOURCES}}}}}}}}


class TrainJobError(RuntimeError):
    """The TrainJob failed, could not be created, or did not finish in time."""


class TrainJobApi(Protocol):
    """The calls the waiting step makes (the Role grants exactly these)."""

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def get(self, namespace: str, name: str) -> dict[str, Any]: ...
    def delete(self, namespace: str, name: str) -> None: ...
    def node_log(self, namespace: str, name: str, lines: int) -> str: ...


class TrainJobClient:
    """The Kubernetes API: TrainJobs (create, get, delete) and the log of node 0's pod (list pods, get pods/log)."""

    def __init__(self) -> None:
        from kubernetes import client

        from relevance_distill.kube import api_client

        connection = api_client()
        self.custom = client.CustomObjectsApi(connection)
        self.core = client.CoreV1Api(connection)

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def delete(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def node_log(self, namespace: str, name: str, lines: int) -> str:
        pods = self.core.list_namespaced_pod(namespace, label_selector=POD_SELECTOR.format(name=name)).items
        if not pods:
            return ""
        first = sorted(pods, key=lambda pod: pod.metadata.name)[0]
        return self.core.read_namespaced_pod_log(first.metadata.name, namespace, tail_lines=lines)


def job_name(step: str, output_uri: str) -> str:
    """A DNS-label name for STEP's TrainJob, unique per output location (a rerun finds its own job)."""
    import hashlib

    digest = hashlib.sha1(output_uri.encode()).hexdigest()[:10]
    return f"relevance-distill-{re.sub('[^a-z0-9-]', '-', step.lower())}-{digest}"[:63].rstrip("-")


def trainjob_manifest(name: str, image: str, request_uri: str, result_uri: str, config: TrainJobConfig) -> dict[str, Any]:
    """The TrainJob that runs one teacher step on ``config.num_nodes`` nodes of ``config.gpus_per_node`` GPUs."""
    secret = {"name": config.s3_secret_name}
    env = [{"name": key, "valueFrom": {"secretKeyRef": {**secret, "key": key}}}
           for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
    env.append({"name": GPUS_ENVIRONMENT, "value": str(config.gpus_per_node)})
    if config.s3_endpoint_url:
        env.append({"name": "AWS_ENDPOINT_URL", "value": config.s3_endpoint_url})
    resources = {config.gpu_resource: config.gpus_per_node, "memory": config.memory_per_node, "cpu": config.cpu_per_node}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": name, "namespace": config.namespace,
                     "labels": {"app.kubernetes.io/part-of": "relevance-distill"}},
        "spec": {
            "runtimeRef": {"name": config.runtime, "apiGroup": GROUP, "kind": "ClusterTrainingRuntime"},
            "activeDeadlineSeconds": config.timeout_seconds,
            "trainer": {"image": image, "command": ["torchrun", "-m", WORKER_MODULE], "args": [request_uri, result_uri],
                        "env": env, "numNodes": config.num_nodes, "numProcPerNode": config.gpus_per_node,
                        "resourcesPerNode": {"requests": dict(resources), "limits": dict(resources)}}}}


def validate_trainjob(manifest: dict[str, Any]) -> None:
    """Refuses a manifest the Trainer's CRD would refuse (``TRAINJOB_SCHEMA``), naming the field."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(TRAINJOB_SCHEMA).iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise TrainJobError(f"TrainJob field {'/'.join(map(str, first.path)) or '(root)'}: {first.message}")


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or []
                 if c.get("type") == kind and c.get("status") == "True"), None)


def wait_for_trainjob(api: TrainJobApi, namespace: str, name: str, timeout_seconds: float, poll_seconds: float,
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                      log_lines: int = 50) -> dict[str, Any]:
    """Poll until the TrainJob is Complete (returned) or Failed (raised with its reason and message); a job still
    running after TIMEOUT_SECONDS is deleted and reported. Every change of its conditions is printed."""
    deadline, seen = clock() + timeout_seconds, None
    while True:
        job = api.get(namespace, name)
        conditions = [(c.get("type"), c.get("status"), c.get("reason", "")) for c in (job.get("status") or {}).get("conditions") or []]
        if conditions != seen:
            seen = conditions
            state = ", ".join(f"{kind}={status}" + (f" ({reason})" if reason else "") for kind, status, reason in conditions)
            print(f"TrainJob {namespace}/{name}: {state or 'created, no condition yet'}", flush=True)
        finished = _condition(job, COMPLETE) or _condition(job, FAILED)
        if finished:
            log = api.node_log(namespace, name, log_lines)
            if log:
                print(f"last {log_lines} lines of node 0:\n{log}", flush=True)
            if finished["type"] == FAILED:
                raise TrainJobError(f"TrainJob {namespace}/{name} failed ({finished.get('reason', 'no reason')}): "
                                    f"{finished.get('message', '')}")
            return job
        if clock() >= deadline:
            api.delete(namespace, name)
            raise TrainJobError(f"TrainJob {namespace}/{name} did not finish within {timeout_seconds:.0f} s; it was "
                                "deleted (raise TrainJobConfig.timeout_seconds, or look at its pods' events)")
        sleep(poll_seconds)


def run_step_on_nodes(step: str, args: tuple[Any, ...], kwargs: dict[str, Any], work_uri: str, image: str,
                      config: TrainJobConfig, api: TrainJobApi | None = None) -> dict[str, Any]:
    """STEP with ARGS/KWARGS in a TrainJob; the request and the result travel through WORK_URI (s3://)."""
    if not storage.is_s3(work_uri):
        raise TrainJobError(f"a TrainJob's nodes share nothing but S3: work_uri must be s3://…, got {work_uri!r}")
    api = api or TrainJobClient()
    request_uri, result_uri = storage.join(work_uri, "request.pkl"), storage.join(work_uri, "result.pkl")
    # Written and read by this package alone, in its own images: the step's configs and pairs.
    storage.write_bytes(request_uri, pickle.dumps((step, args, kwargs)))
    name = job_name(step, work_uri)
    manifest = trainjob_manifest(name, image, request_uri, result_uri, config)
    validate_trainjob(manifest)
    api.create(config.namespace, manifest)
    wait_for_trainjob(api, config.namespace, name, config.timeout_seconds, config.poll_seconds)
    if not storage.exists(result_uri):
        raise TrainJobError(f"TrainJob {config.namespace}/{name} completed without writing {result_uri}")
    return pickle.loads(storage.read_bytes(result_uri))
