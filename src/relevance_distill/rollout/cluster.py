"""The only code that talks to the Kubernetes API. It reads an InferenceService (``get``) and sends the JSON
Patches of ``patches.py`` (``patch``): the Role in ``manifests/rbac/role.yaml`` grants exactly these verbs, and
a test compares the two.

Credentials come from the pod's ServiceAccount in a cluster, else from the kube config (``KUBECONFIG``).
"""

from __future__ import annotations

from typing import Any, Callable

from relevance_distill.rollout.isvc import GROUP, PLURAL, VERSION
from relevance_distill.rollout.patches import PatchRequest, RolloutStateError

#: Attempts of a verb when the server answers 409 Conflict (each after a fresh read).
CONFLICT_ATTEMPTS = 3


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
                    "(the pipeline may only get and patch it)") from None
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


def run_verb(client: ClusterClient, namespace: str, name: str,
             build: Callable[[dict[str, Any]], PatchRequest]) -> tuple[PatchRequest, dict[str, Any]]:
    """Read the live object, build the verb's patch from it and send it. A 409 Conflict is retried after a fresh
    read; a failed ``test`` (the object changed since it was read) is reported, not retried."""
    from kubernetes.client.rest import ApiException

    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        request = build(client.get_inference_service(namespace, name))
        try:
            return request, client.patch(request)
        except ApiException as error:
            if error.status == 409 and attempt < CONFLICT_ATTEMPTS:
                continue
            raise
    raise AssertionError("unreachable")
