"""Reading an InferenceService's ``status``: has a rollout step taken effect, and if not, why not.

The fields are KServe's (``pkg/apis/serving/v1beta1/inference_service_status.go``): ``conditions`` (``Ready``,
``PredictorReady``, ``LatestDeploymentReady`` …), ``components.predictor`` with ``latestCreatedRevision``,
``latestReadyRevision``, ``latestRolledoutRevision`` and ``traffic`` (Knative's traffic targets, each with
``revisionName``, ``percent``, ``latestRevision`` and, with tag routing, ``tag``), and ``modelStatus.lastFailureInfo``.
"""

from __future__ import annotations

from typing import Any

from relevance_distill.rollout.patches import Expected


def _predictor(isvc: dict[str, Any]) -> dict[str, Any]:
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}


def condition(isvc: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (isvc.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def is_ready(isvc: dict[str, Any]) -> bool:
    ready = condition(isvc, "Ready")
    return ready is not None and ready.get("status") == "True"


def traffic(isvc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_predictor(isvc).get("traffic") or [])


def unmet(isvc: dict[str, Any], expected: Expected) -> str | None:
    """Why ISVC's status does not yet show EXPECTED (None when it does)."""
    status = isvc.get("status") or {}
    generation = (isvc.get("metadata") or {}).get("generation")
    if generation is not None and (status.get("observedGeneration") or 0) < generation:
        return f"KServe has not yet seen generation {generation} (observed {status.get('observedGeneration')})"
    predictor = _predictor(isvc)
    if expected.new_revision_ready:
        created, ready = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
        if not created or created != ready:
            return f"revision {created} is not ready yet (latest ready: {ready})"
        if not is_ready(isvc):
            return "the InferenceService is not Ready"
    targets = traffic(isvc)
    latest = sum(t.get("percent") or 0 for t in targets if t.get("latestRevision"))
    pinned = [t for t in targets if not t.get("latestRevision")]
    if expected.canary_percent is None:
        if latest != 100 or any(t.get("percent") for t in pinned):
            return f"traffic is {describe(targets)}, not 100 % on the latest revision"
        return None
    rolled_out = predictor.get("latestRolledoutRevision")
    previous = sum(t.get("percent") or 0 for t in pinned if t.get("revisionName") == rolled_out)
    if latest != expected.canary_percent or previous != 100 - expected.canary_percent:
        return (f"traffic is {describe(targets)}, not {expected.canary_percent} % latest / "
                f"{100 - expected.canary_percent} % on {rolled_out}")
    return None


def describe(targets: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t.get('percent', 0)} % {t.get('revisionName', '?')}"
                     f"{' (latest)' if t.get('latestRevision') else ''}" for t in targets) or "none"


def failure_message(isvc: dict[str, Any]) -> str:
    """The messages of every condition that is not True, and the model's last failure: what a timed-out step
    reports."""
    status = isvc.get("status") or {}
    messages = [f"{c.get('type')}={c.get('status')}: {c.get('reason') or ''} {c.get('message') or ''}".strip()
                for c in status.get("conditions") or [] if c.get("status") != "True"]
    failure = (status.get("modelStatus") or {}).get("lastFailureInfo") or {}
    if failure.get("message"):
        messages.append(f"model: {failure.get('reason', '')} {failure['message']}".strip())
    return "; ".join(messages) or "no condition reports a problem"
