"""Sticky A/B assignment: which arm a user (the randomisation unit) sees during a canary.

KServe's ``canaryTrafficPercent`` splits *requests*, so one user's searches land in both arms and no per-user
analysis is valid on them. With tag routing on (the base InferenceService has it), Knative gives each arm a stable
address: ``latest-…`` (the canary, the latest ready revision) and ``prev-…`` (the previously rolled-out revision).
The user's front end (or an ingress rule) calls ``assign(unit, canary_share, experiment)`` and sends the request
to that arm's address with the unit in the ``X-Relevance-Unit`` header; the request logger forwards the header to the
event sink, so the analysis counts users, checks the split on users and reports any user seen in both arms.

The assignment is a salted hash: deterministic per (experiment, unit), independent across experiments (the salt is
the experiment key, by default the canary's model version), and uniform, so the share of units on the canary is
``canary_share`` up to binomial noise, which is what the sample-ratio test checks.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

Arm = Literal["stable", "canary"]
#: Knative traffic tags KServe gives each arm with tag routing (ksvc_reconciler.go createKnativeService).
ARM_TAGS: dict[str, str] = {"canary": "latest", "stable": "prev"}


def bucket(unit: str, experiment: str) -> float:
    """A uniform number in [0, 1) fixed by (EXPERIMENT, UNIT): the first 8 bytes of SHA-256 of ``experiment:unit``."""
    digest = hashlib.sha256(f"{experiment}:{unit}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(unit: str, canary_share: float, experiment: str) -> Arm:
    """The arm UNIT sees in EXPERIMENT when CANARY_SHARE of units go to the canary."""
    if not 0 < canary_share < 1:
        raise ValueError(f"canary_share must be in (0, 1), got {canary_share}")
    if not unit:
        raise ValueError("an empty unit cannot be assigned: send the user id (or its hash) in X-Relevance-Unit")
    return "canary" if bucket(unit, experiment) < canary_share else "stable"


def arm_addresses(isvc: dict[str, Any]) -> dict[str, str]:
    """Each arm's address from the InferenceService's ``status.components.predictor.traffic`` (the ``url`` Knative
    reports for the tagged targets). Empty while no canary runs: then every request goes to the main address."""
    traffic = (((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}).get("traffic") or []
    by_tag = {target.get("tag"): target.get("url") for target in traffic if target.get("tag") and target.get("url")}
    if not all(by_tag.get(tag) for tag in ARM_TAGS.values()) or not any(
            t.get("tag") == "prev" and t.get("percent", 0) > 0 for t in traffic):
        return {}
    if any(t.get("tag") == "latest" and not t.get("percent") for t in traffic):
        return {}  # a rollback pinned everything to the previous revision: no experiment runs any more
    return {arm: by_tag[tag] for arm, tag in ARM_TAGS.items()}
