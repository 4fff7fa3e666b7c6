"""A model of how KServe in Serverless mode, on Knative, routes an InferenceService's traffic while its spec changes.

Tests drive the rollout verbs through it (and an HTTP API server built on it), and the docs' traffic table is
generated from it. It restates, in Python, these parts of the upstream source:

* kserve/kserve ``pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go`` @279fb1e5,
  ``createKnativeService``: with ``canaryTrafficPercent`` set and a rolled-out revision known, one target
  ``latestRevision: true`` at that percent (tag ``latest`` with ``serving.kserve.io/enable-tag-routing``) and, below
  100, one target on ``status…latestRolledoutRevision`` with the rest (tag ``prev``); otherwise one target
  ``latestRevision: true`` at 100 %.
* kserve/kserve ``pkg/apis/serving/v1beta1/inference_service_status.go`` @0217bdab, ``PropagateStatus``: a latest
  ready revision seen at 100 % becomes ``latestRolledoutRevision`` (the one before moves to
  ``previousRolledoutRevision``); when the rolled-out revision itself is given less than 100 % while it holds all
  traffic, ``latestRolledoutRevision`` goes back to the previous one.
* kserve/kserve ``pkg/controller/v1beta1/inferenceservice/components/predictor.go``: the InferenceService's
  annotations (minus a disallowed list that ours are not on) go into the revision template with the predictor spec,
  so changing an annotation creates a revision just as changing ``storageUri`` does; ``canaryTrafficPercent`` goes
  into the route only.
* Knative Serving's documented semantics: a new revision is created for every change of the revision template; a
  ``latestRevision: true`` target routes to the latest *ready* revision; the Service is Ready when its latest created
  revision is ready and every target resolves to a ready revision.

What it leaves out: scaling, the ingress, the time any of this takes (the caller decides when a revision becomes ready
or fails).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from relevance_distill.rollout.isvc import TAG_ROUTING_ANNOTATION

#: Annotations KServe keeps out of the revision template (``ServiceAnnotationDisallowedList``'s kubectl entry).
NOT_IN_TEMPLATE = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass
class Revision:
    name: str
    template: str
    storage_uri: str
    state: str = "pending"  # pending | ready | failed
    message: str = ""


class ServerlessModel:
    """One InferenceService's predictor as KServe and Knative see it. ``apply`` takes a new object (as the API server
    stores it after a patch); ``ready``/``fail`` finish the newest revision; ``object`` returns it with ``status``;
    ``shares`` says which model gets what percent of requests now."""

    def __init__(self, isvc: dict[str, Any]) -> None:
        self.name = isvc["metadata"]["name"]
        self.revisions: list[Revision] = []
        self.generation = 0
        self.status: dict[str, Any] = {}
        self.isvc: dict[str, Any] = {}
        self.apply(isvc)
        self.ready()

    # -- what the API server and the controllers do --------------------------------------------------------------

    @staticmethod
    def _template(isvc: dict[str, Any]) -> str:
        predictor = {k: v for k, v in isvc["spec"]["predictor"].items() if k != "canaryTrafficPercent"}
        annotations = {k: v for k, v in (isvc["metadata"].get("annotations") or {}).items() if k not in NOT_IN_TEMPLATE}
        return json.dumps({"predictor": predictor, "annotations": annotations}, sort_keys=True)

    def apply(self, isvc: dict[str, Any]) -> None:
        spec_changed = not self.isvc or (isvc["spec"] != self.isvc["spec"]
                                         or isvc["metadata"].get("annotations") != self.isvc["metadata"].get("annotations"))
        self.isvc = copy.deepcopy({k: v for k, v in isvc.items() if k != "status"})
        if spec_changed:
            self.generation += 1
        template = self._template(isvc)
        if not self.revisions or self.revisions[-1].template != template:
            self.revisions.append(Revision(f"{self.name}-predictor-{len(self.revisions) + 1:05d}", template,
                                           isvc["spec"]["predictor"]["model"]["storageUri"]))
        self.reconcile()

    def ready(self) -> None:
        """The newest revision becomes ready (its pods pass their probes)."""
        self.revisions[-1].state = "ready"
        self.reconcile()

    def fail(self, message: str) -> None:
        """The newest revision fails (e.g. the model does not load)."""
        self.revisions[-1].state, self.revisions[-1].message = "failed", message
        self.reconcile()

    def _latest_ready(self) -> str | None:
        return next((r.name for r in reversed(self.revisions) if r.state == "ready"), None)

    def _targets(self) -> list[dict[str, Any]]:
        """The Knative Service's traffic targets (createKnativeService)."""
        percent = self.isvc["spec"]["predictor"].get("canaryTrafficPercent")
        rolled_out = self.status.get("latestRolledoutRevision", "")
        tags = (self.isvc["metadata"].get("annotations") or {}).get(TAG_ROUTING_ANNOTATION) == "true"
        if percent is not None and rolled_out:
            targets = [{"latestRevision": True, "percent": percent, **({"tag": "latest"} if tags else {})}]
            if percent < 100:
                targets.append({"revisionName": rolled_out, "latestRevision": False, "percent": 100 - percent,
                                "tag": "prev"})
            return targets
        return [{"latestRevision": True, "percent": 100, **({"tag": "latest"} if tags else {})}]

    def _propagate(self, traffic: list[dict[str, Any]], latest_ready: str | None, latest_created: str) -> None:
        """PropagateStatus' revision bookkeeping."""
        status = self.status
        by_revision: dict[str, int] = {}
        for target in traffic:
            by_revision[target["revisionName"]] = by_revision.get(target["revisionName"], 0) + target["percent"]
        for target in traffic:
            if target["revisionName"] != latest_ready or not target["latestRevision"]:
                continue
            if status.get("latestRolledoutRevision") != latest_ready:
                if target["percent"] == 100:
                    status["previousRolledoutRevision"] = status.get("latestRolledoutRevision", "")
                    status["latestRolledoutRevision"] = latest_ready
            elif (latest_ready == latest_created and target["percent"] < 100 and by_revision.get(latest_ready) == 100
                  and status.get("previousRolledoutRevision")):
                status["latestRolledoutRevision"] = status["previousRolledoutRevision"]
        status["latestReadyRevision"] = latest_ready or ""
        status["latestCreatedRevision"] = latest_created
        status["traffic"] = traffic

    def reconcile(self) -> None:
        """Reconcile until nothing changes (the rollback branch of PropagateStatus changes the targets)."""
        for _ in range(5):
            before = json.dumps(self.status, sort_keys=True)
            latest_ready = self._latest_ready()
            traffic = []
            if latest_ready is not None:
                for target in self._targets():
                    resolved = {**target, "revisionName": latest_ready if target["latestRevision"] else target["revisionName"]}
                    if target.get("tag"):  # Knative reports an address per tag
                        namespace = self.isvc["metadata"].get("namespace", "default")
                        resolved["url"] = f"http://{target['tag']}-{self.name}-predictor.{namespace}.example.com"
                    traffic.append(resolved)
            self._propagate(traffic, latest_ready, self.revisions[-1].name)
            if json.dumps(self.status, sort_keys=True) == before:
                break

    # -- what a client sees ---------------------------------------------------------------------------------------

    def _conditions(self) -> list[dict[str, Any]]:
        newest = self.revisions[-1]
        states = {r.name: r.state for r in self.revisions}
        if newest.state == "ready":
            configuration = {"status": "True"}
        elif newest.state == "failed":
            configuration = {"status": "False", "reason": "RevisionFailed",
                             "message": f"Revision \"{newest.name}\" failed with message: {newest.message}."}
        else:
            configuration = {"status": "Unknown", "reason": "RevisionMissing",
                             "message": f"Configuration is waiting for a Revision to become ready: {newest.name}."}
        traffic = self.status.get("traffic") or []
        routes_ok = bool(traffic) and all(states.get(t["revisionName"]) == "ready" for t in traffic)
        routes = {"status": "True"} if routes_ok else {"status": "Unknown", "reason": "RevisionMissing",
                                                      "message": "traffic targets a revision that is not ready"}
        ready = configuration if configuration["status"] != "True" else routes
        return [{"type": "IngressReady", "status": "True"},
                {"type": "LatestDeploymentReady", **configuration},
                {"type": "PredictorConfigurationReady", **configuration},
                {"type": "PredictorReady", **ready},
                {"type": "PredictorRouteReady", **routes},
                {"type": "Ready", **ready},
                {"type": "RoutesReady", **routes}]

    def object(self) -> dict[str, Any]:
        """The InferenceService as ``kubectl get -o json`` shows it now."""
        isvc = copy.deepcopy(self.isvc)
        isvc["metadata"]["generation"] = self.generation
        newest = self.revisions[-1]
        status: dict[str, Any] = {"observedGeneration": self.generation, "conditions": self._conditions(),
                                  "components": {"predictor": copy.deepcopy(self.status)}}
        if newest.state == "failed":
            status["modelStatus"] = {"transitionStatus": "BlockedByFailedLoad",
                                     "lastFailureInfo": {"reason": "ModelLoadFailed", "message": newest.message}}
        isvc["status"] = status
        return isvc

    def shares(self) -> dict[str, int]:
        """Percent of requests per storage URI now (revisions of the same model added up)."""
        uri = {r.name: r.storage_uri for r in self.revisions}
        shares: dict[str, int] = {}
        for target in self.status.get("traffic") or []:
            if target["percent"]:
                key = uri[target["revisionName"]]
                shares[key] = shares.get(key, 0) + target["percent"]
        return shares


def traffic_table(percent: int = 10) -> str:
    """The README's table: for each verb's step, the stable and the candidate model's share of requests right after
    the patch and once the revision it creates is ready, as this model computes them (stable → canary → promote, and
    canary → rollback)."""
    from relevance_distill.rollout.isvc import build_isvc
    from relevance_distill.rollout.patches import (
        apply_request,
        canary_plan,
        promote_plan,
        rollback_plan,
    )

    stable, candidate = "s3://…/stable", "s3://…/candidate"
    rows = ["| verb | step | what the request changes | stable / candidate: right after | once the new revision is ready |",
            "|---|---|---|---|---|"]
    changes = {"canary": f"`storageUri` → candidate, `canaryTrafficPercent: {percent}`",
               "promote": "`canaryTrafficPercent` and the previous-model annotations removed",
               "pin": "`canaryTrafficPercent: 0`, nothing else (no new revision)",
               "restore": "`storageUri` → stable, still at 0 %",
               "clean": "`canaryTrafficPercent` and the previous-model annotations removed"}

    def split(model: ServerlessModel) -> str:
        shares = model.shares()
        return f"{shares.get(stable, 0)} / {shares.get(candidate, 0)}"

    def run(model: ServerlessModel, plan: list, report: bool) -> None:
        for build in plan:
            step = build(model.object())
            model.apply(apply_request(model.object(), step.request))
            right_after, created = split(model), model.revisions[-1].state == "pending"
            if created:
                model.ready()
            if report:
                verb = "rollback" if step.name in {"pin", "restore", "clean"} else step.name
                rows.append(f"| {verb} | {step.name} | {changes[step.name]} | {right_after} | "
                            f"{split(model) if created else '(no new revision)'} |")

    for follow_up in (promote_plan, rollback_plan):
        model = ServerlessModel(build_isvc(stable, "stable"))
        run(model, canary_plan(model.object(), candidate, "candidate", percent), report=follow_up is promote_plan)
        run(model, follow_up(model.object()), report=True)
    return "\n".join(rows)
