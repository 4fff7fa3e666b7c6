"""The rollout verbs as the exact requests a Kubernetes API server receives.

Each verb reads the live InferenceService and answers one JSON Patch (RFC 6902,
``application/json-patch+json``). A patch changes only the paths it names, so nothing the server owns
(``status``, ``managedFields``, ``resourceVersion``) is ever sent, and ``remove`` operations really delete what a
promotion or a rollback must leave behind (a JSON merge patch of the "clean" spec would keep every key it omits).
``test`` operations guard what the verb read: if someone changed the model in between, the server refuses the
whole patch (HTTP 422) instead of applying it to a state nobody looked at.

* ``canary``: new ``storageUri`` at ``canaryTrafficPercent``; the model it replaces (URI and version) is kept in
  annotations so that a rollback can restore it.
* ``promote``: the canary takes all traffic: ``canaryTrafficPercent`` and the previous-model annotations go.
* ``rollback``: the previous model comes back at 100 % (its URI and version restored), the canary fields go.

The same patches produce the GitOps tree's objects (``apply_request``), so both modes share one definition.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from relevance_distill.rollout.isvc import (
    GROUP,
    PLURAL,
    PREVIOUS_URI_ANNOTATION,
    PREVIOUS_VERSION_ANNOTATION,
    VERSION,
    VERSION_ANNOTATION,
)

JSON_PATCH = "application/json-patch+json"
STORAGE_URI = "/spec/predictor/model/storageUri"
CANARY_PERCENT = "/spec/predictor/canaryTrafficPercent"


class RolloutStateError(ValueError):
    """The live InferenceService is not in a state the verb can act on (e.g. promote without a canary)."""


def pointer(*parts: str) -> str:
    """A JSON Pointer (RFC 6901) to PARTS; ``/`` and ``~`` inside a key (annotation names) are escaped."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def annotation_path(key: str) -> str:
    return pointer("metadata", "annotations", key)


@dataclass(frozen=True)
class PatchRequest:
    """One request to the API server: ``PATCH path`` with ``body`` of ``content_type``."""

    namespace: str
    name: str
    body: list[dict[str, Any]] = field(default_factory=list)
    content_type: str = JSON_PATCH
    method: str = "PATCH"

    @property
    def path(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/{PLURAL}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "content_type": self.content_type, "body": self.body}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _identity(live: dict[str, Any]) -> tuple[str, str]:
    metadata = live.get("metadata") or {}
    if not metadata.get("name") or not metadata.get("namespace"):
        raise RolloutStateError("the live InferenceService has no metadata.name/metadata.namespace")
    return metadata["namespace"], metadata["name"]


def _annotations(live: dict[str, Any]) -> dict[str, str]:
    return dict((live.get("metadata") or {}).get("annotations") or {})


def _storage_uri(live: dict[str, Any]) -> str:
    try:
        return live["spec"]["predictor"]["model"]["storageUri"]
    except KeyError:
        raise RolloutStateError("the live InferenceService has no spec.predictor.model.storageUri") from None


def _has_canary(live: dict[str, Any]) -> bool:
    return PREVIOUS_URI_ANNOTATION in _annotations(live)


def canary_request(live: dict[str, Any], storage_uri: str, model_version: str, percent: int) -> PatchRequest:
    """Roll STORAGE_URI out to PERCENT % of traffic on top of the model LIVE serves now."""
    if not 0 < percent < 100:
        raise ValueError(f"canary percent must be between 1 and 99, got {percent}")
    namespace, name = _identity(live)
    current = _storage_uri(live)
    annotations = _annotations(live)
    if _has_canary(live):
        raise RolloutStateError(
            f"a canary is already running ({current}, replacing {annotations[PREVIOUS_URI_ANNOTATION]}): "
            "promote or roll it back first")
    if current == storage_uri:
        raise RolloutStateError(f"{storage_uri} is already the serving model")
    ops: list[dict[str, Any]] = [{"op": "test", "path": STORAGE_URI, "value": current}]
    if "annotations" not in (live.get("metadata") or {}):
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    ops.append({"op": "add", "path": annotation_path(PREVIOUS_URI_ANNOTATION), "value": current})
    if VERSION_ANNOTATION in annotations:
        ops.append({"op": "add", "path": annotation_path(PREVIOUS_VERSION_ANNOTATION),
                    "value": annotations[VERSION_ANNOTATION]})
    ops += [{"op": "add", "path": annotation_path(VERSION_ANNOTATION), "value": model_version},
            {"op": "replace", "path": STORAGE_URI, "value": storage_uri},
            {"op": "add", "path": CANARY_PERCENT, "value": percent}]
    return PatchRequest(namespace, name, ops)


def _canary_guard(live: dict[str, Any], verb: str) -> list[dict[str, Any]]:
    if not _has_canary(live):
        raise RolloutStateError(f"no canary to {verb}: annotation {PREVIOUS_URI_ANNOTATION} is absent")
    annotations = _annotations(live)
    return [{"op": "test", "path": STORAGE_URI, "value": _storage_uri(live)},
            {"op": "test", "path": annotation_path(PREVIOUS_URI_ANNOTATION), "value": annotations[PREVIOUS_URI_ANNOTATION]}]


def _remove_canary_fields(live: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    if "canaryTrafficPercent" in live["spec"]["predictor"]:
        ops.append({"op": "remove", "path": CANARY_PERCENT})
    ops.append({"op": "remove", "path": annotation_path(PREVIOUS_URI_ANNOTATION)})
    if PREVIOUS_VERSION_ANNOTATION in _annotations(live):
        ops.append({"op": "remove", "path": annotation_path(PREVIOUS_VERSION_ANNOTATION)})
    return ops


def promote_request(live: dict[str, Any]) -> PatchRequest:
    """The canary LIVE runs takes all traffic; nothing of the canary is left in the object."""
    namespace, name = _identity(live)
    return PatchRequest(namespace, name, _canary_guard(live, "promote") + _remove_canary_fields(live))


def rollback_request(live: dict[str, Any]) -> PatchRequest:
    """The model the canary replaced serves 100 % again; the canary is gone."""
    namespace, name = _identity(live)
    annotations = _annotations(live)
    ops = _canary_guard(live, "roll back")
    ops.append({"op": "replace", "path": STORAGE_URI, "value": annotations[PREVIOUS_URI_ANNOTATION]})
    if PREVIOUS_VERSION_ANNOTATION in annotations:
        ops.append({"op": "add", "path": annotation_path(VERSION_ANNOTATION),
                    "value": annotations[PREVIOUS_VERSION_ANNOTATION]})
    return PatchRequest(namespace, name, ops + _remove_canary_fields(live))


def apply_request(live: dict[str, Any], request: PatchRequest) -> dict[str, Any]:
    """What the API server stores after REQUEST (RFC 6902 applied by ``jsonpatch``; a failed ``test`` raises)."""
    import jsonpatch

    if request.content_type != JSON_PATCH:
        raise ValueError(f"unsupported content type {request.content_type!r}; allowed: [{JSON_PATCH!r}]")
    return jsonpatch.apply_patch(copy.deepcopy(live), request.body)


# -- the resource after a verb (what GitOps mode writes) ----------------------------------------

def canary(isvc: dict[str, Any], storage_uri: str, model_version: str, percent: int) -> dict[str, Any]:
    """ISVC with ``storage_uri`` rolled out to ``percent`` % of traffic (``canary_request`` applied)."""
    return apply_request(isvc, canary_request(isvc, storage_uri, model_version, percent))


def promote(isvc: dict[str, Any]) -> dict[str, Any]:
    """ISVC with its canary serving all traffic and no canary fields left (``promote_request`` applied)."""
    return apply_request(isvc, promote_request(isvc))


def rollback(isvc: dict[str, Any]) -> dict[str, Any]:
    """ISVC with the model its canary replaced back at 100 % (``rollback_request`` applied)."""
    return apply_request(isvc, rollback_request(isvc))
