"""The only code that talks to the Kubernetes API about InferenceServices. It reads one (``get``), sends the JSON
Patches of ``patches.py`` (``patch``) and watches it until a step has taken effect (``list`` + ``watch`` on that one
name): the Role in ``manifests/rbac/role.yaml`` grants exactly these verbs, and a test compares the two.

Credentials come from the pod's ServiceAccount in a cluster, else from the kube config (``KUBECONFIG``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from relevance_distill.rollout.isvc import GROUP, PLURAL, VERSION
from relevance_distill.rollout.patches import (
    Expected,
    PatchRequest,
    RolloutStateError,
    Step,
    StepBuilder,
)
from relevance_distill.rollout.status import failure_message, unmet

#: Attempts of a step when the server answers 409 Conflict (each after a fresh read).
CONFLICT_ATTEMPTS = 3


class RolloutTimeout(RuntimeError):
    """A step's patch was accepted but the InferenceService did not reach the expected state in time."""


class ClusterClient:
    def __init__(self) -> None:
        from relevance_distill.kube import api_client

        self.api_client = api_client()

    def get_inference_service(self, namespace: str, name: str) -> dict[str, Any]:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        try:
            return client.CustomObjectsApi(self.api_client).get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as error:
            if error.status == 404:
                raise RolloutStateError(
                    f"InferenceService {namespace}/{name} does not exist; deploy manifests/overlays/stable first "
                    "(the pipeline may only get, patch and watch it)") from None
            raise

    def patch(self, request: PatchRequest) -> dict[str, Any]:
        """Send REQUEST with its own content type (the generated client would send a merge patch). A failed
        ``test`` operation (422: the object is not what the patch was built from) raises RolloutStateError."""
        from kubernetes.client.rest import ApiException

        try:
            return self.api_client.call_api(
                request.path, "PATCH", header_params={"Content-Type": request.content_type, "Accept": "application/json"},
                body=request.body, response_type="object", auth_settings=["BearerToken"], _return_http_data_only=True)
        except ApiException as error:
            if error.status == 422:
                raise RolloutStateError(f"InferenceService {request.namespace}/{request.name} is not in the state the "
                                        f"patch was built from (a guarded value changed): {error.body}") from None
            raise

    def wait_for(self, namespace: str, name: str, expected: Expected, timeout_seconds: float,
                 progress: Callable[[str], None] = print) -> dict[str, Any]:
        """Watch the InferenceService until its status shows EXPECTED; on timeout raise RolloutTimeout with what is
        still missing and the conditions' messages (e.g. why the new revision does not start)."""
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.api_client)
        deadline = time.monotonic() + timeout_seconds
        last: dict[str, Any] = {}
        reason, said = "no event received", ""
        while time.monotonic() < deadline:
            stream = watch.Watch()
            window = max(1, int(min(30.0, deadline - time.monotonic())))
            for event in stream.stream(api.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
                                       field_selector=f"metadata.name={name}", timeout_seconds=window):
                if event.get("type") not in {"ADDED", "MODIFIED"}:
                    continue
                last = event["object"]
                reason = unmet(last, expected)
                if reason is None:
                    stream.stop()
                    return last
                if reason != said:
                    progress(f"waiting for {namespace}/{name}: {reason}")
                    said = reason
                if time.monotonic() >= deadline:
                    stream.stop()
                    break
        raise RolloutTimeout(f"InferenceService {namespace}/{name} did not reach '{expected.describe()}' within "
                             f"{timeout_seconds:g} s: {reason}; {failure_message(last)}")


def run_step(client: ClusterClient, namespace: str, name: str, build: StepBuilder) -> tuple[Step, dict[str, Any]]:
    """Read the live object, build the step's patch from it and send it. A 409 Conflict is retried after a fresh
    read; a failed ``test`` (the object changed since it was read) is reported, not retried."""
    from kubernetes.client.rest import ApiException

    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        step = build(client.get_inference_service(namespace, name))
        try:
            return step, client.patch(step.request)
        except ApiException as error:
            if error.status == 409 and attempt < CONFLICT_ATTEMPTS:
                continue
            raise
    raise AssertionError("unreachable")


def run_plan(client: ClusterClient, namespace: str, name: str, plan: list[StepBuilder], timeout_seconds: float,
             progress: Callable[[str], None] = print) -> tuple[list[Step], dict[str, Any]]:
    """Every step of PLAN in order: send it, then wait until the InferenceService shows what it asked for (each step
    reads the object afresh, so its guards see what the one before left)."""
    steps, resource = [], {}
    for build in plan:
        step, _ = run_step(client, namespace, name, build)
        progress(f"{step.name}: sent; waiting for {step.expect.describe()}")
        resource = client.wait_for(namespace, name, step.expect, timeout_seconds, progress)
        progress(f"{step.name}: done")
        steps.append(step)
    return steps, resource


def run_verb(namespace: str, name: str, plan_for: Callable[[dict[str, Any]], list[StepBuilder]],
             timeout_seconds: float) -> tuple[list[Step], dict[str, Any]]:
    """Read the live InferenceService, plan the verb from it (a wrong state is refused before anything is sent) and
    run the plan (``run_plan``)."""
    client = ClusterClient()
    plan = plan_for(client.get_inference_service(namespace, name))
    return run_plan(client, namespace, name, plan, timeout_seconds)
