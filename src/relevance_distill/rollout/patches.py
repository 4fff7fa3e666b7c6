"""The rollout verbs as the exact requests a Kubernetes API server receives, in the order KServe needs them.

Each step of a verb reads the live InferenceService and answers one JSON Patch (RFC 6902,
``application/json-patch+json``) plus what ``status`` must show before the next step (``Expected``). A patch
changes only the paths it names, so nothing the server owns (``status``, ``managedFields``, ``resourceVersion``) is
ever sent, and ``remove`` operations really delete what a promotion or a rollback must leave behind (a JSON merge
patch of the "clean" spec would keep every key it omits). ``test`` operations guard what the step read: if someone
changed the model in between, the server refuses the whole patch (HTTP 422).

How KServe routes (Serverless mode, ``serverless_model.py`` models it from KServe's reconciler): with
``canaryTrafficPercent`` set, the *latest ready* revision gets that share and the last revision that once had 100 %
(``status…latestRolledoutRevision``) the rest; without it, the latest ready revision gets everything. Any change to
the predictor spec or to the annotations creates a new revision, and until that revision is ready "latest" still
means the one before it. Hence:

* ``canary``: new ``storageUri`` at ``canaryTrafficPercent``; the replaced model (URI and version) is kept in
  annotations so that a rollback can restore it. On a running canary it replaces the candidate; the stable model and
  its share stay as they are. The same canary again (a retried step) only re-asserts its share and waits.
* ``promote``: ``canaryTrafficPercent`` and the previous-model annotations go; the canary takes all traffic.
* ``rollback``, three steps, each waited for: **pin** (``canaryTrafficPercent: 0`` with nothing else changed, so the
  previously rolled-out revision takes 100 % at once), **restore** (the previous ``storageUri`` and version, still at
  0 %, so the restored revision starts without traffic), **clean** (the canary fields go, once the restored revision
  is ready). The rolled-back model never gets more than its canary share, and from the first step on it gets none.
  A rollback that stopped half-way resumes from the state it left.

The same steps produce the GitOps tree's objects (``run_locally``), so both modes share one definition.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

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


@dataclass(frozen=True)
class Expected:
    """What ``status.components.predictor`` must show before a verb goes on (``status.py`` checks it).

    ``canary_percent``: the latest ready revision's share, the rest on the previously rolled-out revision; None:
    the latest ready revision takes 100 %. ``new_revision_ready``: the newest revision (the one the step created) is
    ready and the InferenceService is Ready. The pin step does not ask for it: a canary that never became ready must
    still be rolled back."""

    canary_percent: int | None
    new_revision_ready: bool = True

    def describe(self) -> str:
        split = ("100 % on the latest revision" if self.canary_percent is None else
                 f"{self.canary_percent} % latest / {100 - self.canary_percent} % previously rolled out")
        return split + (", newest revision Ready" if self.new_revision_ready else "")


@dataclass(frozen=True)
class Step:
    """One request of a verb and what to wait for after it."""

    name: str
    request: PatchRequest
    expect: Expected

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, **self.request.to_dict()}


StepBuilder = Callable[[dict[str, Any]], Step]


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


def _percent(live: dict[str, Any]) -> int | None:
    return live["spec"]["predictor"].get("canaryTrafficPercent")


def phase(live: dict[str, Any]) -> Literal["stable", "canary", "pinned", "restored"]:
    """Where LIVE stands: ``stable`` (no canary), ``canary`` (a candidate takes its share), ``pinned`` (a rollback
    sent all traffic back, the candidate still in the spec), ``restored`` (the previous model is back in the spec at
    0 %, the canary fields not yet gone)."""
    annotations = _annotations(live)
    if PREVIOUS_URI_ANNOTATION not in annotations:
        return "stable"
    if _percent(live) != 0:
        return "canary"
    return "restored" if _storage_uri(live) == annotations[PREVIOUS_URI_ANNOTATION] else "pinned"


def _guard(live: dict[str, Any]) -> list[dict[str, Any]]:
    ops = [{"op": "test", "path": STORAGE_URI, "value": _storage_uri(live)}]
    annotations = _annotations(live)
    if PREVIOUS_URI_ANNOTATION in annotations:
        ops.append({"op": "test", "path": annotation_path(PREVIOUS_URI_ANNOTATION),
                    "value": annotations[PREVIOUS_URI_ANNOTATION]})
    return ops


def canary_step(live: dict[str, Any], storage_uri: str, model_version: str, percent: int) -> Step:
    """Roll STORAGE_URI out to PERCENT % of traffic next to the model LIVE has rolled out."""
    if not 0 < percent < 100:
        raise ValueError(f"canary percent must be between 1 and 99, got {percent}")
    namespace, name = _identity(live)
    current, where = _storage_uri(live), phase(live)
    annotations = _annotations(live)
    if where in {"pinned", "restored"}:
        raise RolloutStateError(f"a rollback of {current} has not finished (canaryTrafficPercent 0): run "
                                "`relevance-distill rollout rollback` again to complete it, then deploy the canary")
    if current == storage_uri and where == "stable":
        raise RolloutStateError(f"{storage_uri} is already the serving model")
    ops = _guard(live)
    if current == storage_uri:
        # The same canary again (a retried step): re-assert its share and wait; the server changes nothing else.
        return Step("canary", PatchRequest(namespace, name, ops + [{"op": "add", "path": CANARY_PERCENT, "value": percent}]),
                    Expected(canary_percent=percent))
    if where == "stable":
        if "annotations" not in (live.get("metadata") or {}):
            ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        ops.append({"op": "add", "path": annotation_path(PREVIOUS_URI_ANNOTATION), "value": current})
        if VERSION_ANNOTATION in annotations:
            ops.append({"op": "add", "path": annotation_path(PREVIOUS_VERSION_ANNOTATION),
                        "value": annotations[VERSION_ANNOTATION]})
    # On a running canary the stable model's annotations stay: the new candidate replaces the old one.
    ops += [{"op": "add", "path": annotation_path(VERSION_ANNOTATION), "value": model_version},
            {"op": "replace", "path": STORAGE_URI, "value": storage_uri},
            {"op": "add", "path": CANARY_PERCENT, "value": percent}]
    return Step("canary", PatchRequest(namespace, name, ops), Expected(canary_percent=percent))


def _remove_canary_fields(live: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    if "canaryTrafficPercent" in live["spec"]["predictor"]:
        ops.append({"op": "remove", "path": CANARY_PERCENT})
    ops.append({"op": "remove", "path": annotation_path(PREVIOUS_URI_ANNOTATION)})
    if PREVIOUS_VERSION_ANNOTATION in _annotations(live):
        ops.append({"op": "remove", "path": annotation_path(PREVIOUS_VERSION_ANNOTATION)})
    return ops


def promote_step(live: dict[str, Any]) -> Step:
    """The canary LIVE runs takes all traffic; nothing of the canary is left in the object."""
    namespace, name = _identity(live)
    where = phase(live)
    if where == "stable":
        raise RolloutStateError(f"no canary to promote: annotation {PREVIOUS_URI_ANNOTATION} is absent")
    if where != "canary":
        raise RolloutStateError("a rollback has started (canaryTrafficPercent 0); run `relevance-distill rollout "
                                "rollback` again to finish it instead of promoting")
    return Step("promote", PatchRequest(namespace, name, _guard(live) + _remove_canary_fields(live)),
                Expected(canary_percent=None))


def pin_step(live: dict[str, Any]) -> Step:
    """Rollback, first step: ``canaryTrafficPercent: 0`` and nothing else, so no revision is created and the
    previously rolled-out revision takes 100 % as soon as KServe reconciles."""
    namespace, name = _identity(live)
    ops = _guard(live) + [{"op": "add", "path": CANARY_PERCENT, "value": 0}]
    return Step("pin", PatchRequest(namespace, name, ops), Expected(canary_percent=0, new_revision_ready=False))


def restore_step(live: dict[str, Any]) -> Step:
    """Rollback, second step: the previous model and version back in the spec, still at 0 %; the revision this
    creates starts without traffic."""
    namespace, name = _identity(live)
    annotations = _annotations(live)
    ops = _guard(live) + [{"op": "test", "path": CANARY_PERCENT, "value": 0},
                          {"op": "replace", "path": STORAGE_URI, "value": annotations[PREVIOUS_URI_ANNOTATION]}]
    if PREVIOUS_VERSION_ANNOTATION in annotations:
        ops.append({"op": "add", "path": annotation_path(VERSION_ANNOTATION),
                    "value": annotations[PREVIOUS_VERSION_ANNOTATION]})
    return Step("restore", PatchRequest(namespace, name, ops), Expected(canary_percent=0))


def clean_step(live: dict[str, Any]) -> Step:
    """Rollback, last step (once the restored revision is ready): the canary fields go, the restored model takes
    100 %."""
    namespace, name = _identity(live)
    ops = _guard(live) + [{"op": "test", "path": CANARY_PERCENT, "value": 0}] + _remove_canary_fields(live)
    return Step("clean", PatchRequest(namespace, name, ops), Expected(canary_percent=None))


def canary_plan(live: dict[str, Any], storage_uri: str, model_version: str, percent: int) -> list[StepBuilder]:
    canary_step(live, storage_uri, model_version, percent)  # refuses a wrong state before anything is sent
    return [lambda current: canary_step(current, storage_uri, model_version, percent)]


def promote_plan(live: dict[str, Any]) -> list[StepBuilder]:
    promote_step(live)
    return [promote_step]


def rollback_plan(live: dict[str, Any]) -> list[StepBuilder]:
    """The rollback steps LIVE still needs (all three from a running canary; fewer when a rollback stopped)."""
    remaining = {"canary": [pin_step, restore_step, clean_step], "pinned": [restore_step, clean_step],
                 "restored": [clean_step]}
    where = phase(live)
    if where == "stable":
        raise RolloutStateError(f"no canary to roll back: annotation {PREVIOUS_URI_ANNOTATION} is absent")
    return remaining[where]


def apply_request(live: dict[str, Any], request: PatchRequest) -> dict[str, Any]:
    """What the API server stores after REQUEST (RFC 6902 applied by ``jsonpatch``; a failed ``test`` raises)."""
    import jsonpatch

    if request.content_type != JSON_PATCH:
        raise ValueError(f"unsupported content type {request.content_type!r}; allowed: [{JSON_PATCH!r}]")
    return jsonpatch.apply_patch(copy.deepcopy(live), request.body)


def run_locally(live: dict[str, Any], plan: list[StepBuilder]) -> tuple[list[Step], dict[str, Any]]:
    """Every step of PLAN built from, and applied to, a copy of LIVE: the requests a dry run prints and the object
    they leave."""
    steps = []
    for build in plan:
        step = build(live)
        live = apply_request(live, step.request)
        steps.append(step)
    return steps, live


# -- the resource after a verb (what GitOps mode writes) ----------------------------------------

def canary(isvc: dict[str, Any], storage_uri: str, model_version: str, percent: int) -> dict[str, Any]:
    """ISVC with ``storage_uri`` rolled out to ``percent`` % of traffic."""
    return run_locally(isvc, canary_plan(isvc, storage_uri, model_version, percent))[1]


def promote(isvc: dict[str, Any]) -> dict[str, Any]:
    """ISVC with its canary serving all traffic and no canary fields left."""
    return run_locally(isvc, promote_plan(isvc))[1]


def rollback(isvc: dict[str, Any]) -> dict[str, Any]:
    """ISVC with the model its canary replaced back at 100 % (all three rollback steps applied)."""
    return run_locally(isvc, rollback_plan(isvc))[1]


def rollback_restored(isvc: dict[str, Any]) -> dict[str, Any]:
    """ISVC after the first two rollback steps: the previous model back in the spec, all traffic on the previously
    rolled-out revision. What GitOps mode writes, since it cannot wait for the restored revision before cleaning."""
    plan = rollback_plan(isvc)
    return run_locally(isvc, plan[:-1])[1] if len(plan) > 1 else isvc
