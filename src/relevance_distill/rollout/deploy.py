"""deploy_canary and promote_or_rollback in both modes: Kubernetes API (``apply``) or GitOps (``gitops``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

from relevance_distill.progress import report_result
from relevance_distill.rollout.isvc import (
    InferenceServiceConfig,
    build_isvc,
    to_yaml,
    write_gitops,
)
from relevance_distill.rollout.patches import (
    canary,
    canary_plan,
    promote,
    promote_plan,
    rollback_plan,
    rollback_restored,
)

Mode = Literal["apply", "gitops"]
# The kustomize tree (base, rbac, overlays) ships inside the package; the repository's manifests/ links here.
PACKAGED_MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"


def _copy_manifests(source: Path, target: Path) -> None:
    if not (source / "base" / "kustomization.yaml").is_file():
        raise FileNotFoundError(f"{source} does not hold base/kustomization.yaml; pass a manifests tree like the packaged one")
    for part in ("base", "rbac", "overlays/stable"):
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)


def render(overlay: str | Path) -> str | None:
    """``kubectl kustomize OVERLAY`` when kubectl is installed (None otherwise)."""
    if shutil.which("kubectl") is None:
        return None
    return subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def deploy_canary(model_uri: str, model_version: str, mode: Mode, config: InferenceServiceConfig | None = None,
                  gitops_dir: str | Path | None = None, stable_model_uri: str | None = None,
                  stable_version: str = "stable", manifests_dir: str | Path = PACKAGED_MANIFESTS) -> dict[str, Any]:
    """Roll ``model_uri`` out as a canary at ``config.canary_traffic_percent``.

    ``apply`` patches the live InferenceService. ``gitops`` writes a manifests tree into ``gitops_dir``
    (base and rbac copied from ``manifests_dir``, ``overlays/stable`` pinned to ``stable_model_uri``,
    ``overlays/canary`` with the new patches) and renders it when kubectl is available.
    """
    config = config or InferenceServiceConfig()
    if mode == "apply":
        from relevance_distill.rollout.cluster import run_verb

        steps, updated = run_verb(config.namespace, config.name, lambda live: canary_plan(
            live, model_uri, model_version, config.canary_traffic_percent), config.rollout_timeout_seconds)
        return {"mode": mode, "resource": updated, "requests": [step.to_dict() for step in steps]}
    if mode != "gitops":
        raise ValueError(f"unknown mode {mode!r}; allowed: ['apply', 'gitops']")
    if gitops_dir is None or stable_model_uri is None:
        raise ValueError("gitops mode needs gitops_dir and stable_model_uri (the model now in production)")
    root = Path(gitops_dir)
    _copy_manifests(Path(manifests_dir), root)
    stable = build_isvc(stable_model_uri, stable_version, config)
    write_gitops(stable, root / "overlays" / "stable", base="../../base")
    updated = canary(stable, model_uri, model_version, config.canary_traffic_percent)
    files = write_gitops(updated, root / "overlays" / "canary", base="../stable")
    rendered = render(root / "overlays" / "canary")
    if rendered is not None:
        (root / "rendered-canary.yaml").write_text(rendered, encoding="utf-8")
    return {"mode": mode, "resource": updated, "files": [str(f) for f in files],
            "rendered": str(root / "rendered-canary.yaml") if rendered is not None else None}


def promote_or_rollback(decision: str, mode: Mode, config: InferenceServiceConfig | None = None,
                        gitops_dir: str | Path | None = None, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Act on an A/B decision: ``promote`` (the canary takes all traffic), ``rollback`` (the replaced model serves
    100 % again) or ``continue`` (nothing changes). Apply mode sends the verb's JSON Patches to the live object and
    waits after each until KServe shows the expected traffic (``patches.py``). GitOps mode applies the same patches to
    CURRENT (the canary step's record) and rewrites the overlays: promote pins the stable overlay to the new model;
    rollback, which cannot wait for a revision from here, leaves the canary overlay at ``canaryTrafficPercent: 0``
    with the previous model restored (all traffic on the previously rolled-out revision at every moment of the sync);
    the stable overlay still pins that model, to switch back to once the restored revision is Ready."""
    if decision not in {"promote", "rollback", "continue"}:
        raise ValueError(f"unknown decision {decision!r}; allowed: ['continue', 'promote', 'rollback']")
    config = config or InferenceServiceConfig()
    if decision == "continue":
        return {"decision": decision, "action": "none"}
    if mode == "apply":
        from relevance_distill.rollout.cluster import run_verb

        steps, resource = run_verb(config.namespace, config.name,
                                   promote_plan if decision == "promote" else rollback_plan,
                                   config.rollout_timeout_seconds)
        return {"decision": decision, "action": "applied", "resource": resource,
                "requests": [step.to_dict() for step in steps]}
    if gitops_dir is None or current is None:
        raise ValueError("gitops mode needs gitops_dir and the current canary resource")
    root = Path(gitops_dir)
    shutil.rmtree(root / "overlays" / "canary", ignore_errors=True)  # the running canary's overlay is replaced
    if decision == "promote":
        resource = promote(current)  # the stable overlay is what syncs now
        files = write_gitops(resource, root / "overlays" / "stable", base="../../base")
    else:
        resource = rollback_restored(current)
        files = write_gitops(resource, root / "overlays" / "canary", base="../stable")
    return {"decision": decision, "action": "gitops", "files": [str(f) for f in files], "resource": resource,
            "yaml": to_yaml(resource)}


# The InferenceService as the canary step left it: what promote_or_rollback acts on in GitOps mode.
CANARY_RECORD = "canary.json"
OUTCOME_RECORD = "outcome.json"


def write_canary_record(directory: str | Path, resource: dict[str, Any]) -> Path:
    path = Path(directory) / CANARY_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resource, indent=2), encoding="utf-8")
    return path


def read_canary_record(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CANARY_RECORD
    if not path.is_file():
        raise FileNotFoundError(f"{directory} has no {CANARY_RECORD}: pass the rollout tree the canary step published")
    resource = json.loads(path.read_text(encoding="utf-8"))
    if resource.get("kind") != "InferenceService":
        raise ValueError(f"{path} holds a {resource.get('kind')!r}, not an InferenceService")
    return resource


def deploy_canary_step(model_uri: str, model_version: str, config: InferenceServiceConfig, rollout_dir: str | Path,
                       stable_model_uri: str | None = None, stable_version: str = "stable",
                       publish_uri: str = "") -> dict[str, Any]:
    """The canary step: roll out in ``config.deploy_mode``, keep the canary record (and the GitOps tree) in
    ``rollout_dir`` and publish that directory to ``publish_uri`` when given (what promote_or_rollback reads)."""
    result = deploy_canary(model_uri, model_version, config.deploy_mode, config, gitops_dir=rollout_dir,
                           stable_model_uri=stable_model_uri, stable_version=stable_version)
    write_canary_record(rollout_dir, result["resource"])
    report_result(f"canary {model_version} at {config.canary_traffic_percent} % ({config.deploy_mode})")
    if publish_uri:
        from relevance_distill import storage

        storage.publish_dir(rollout_dir, publish_uri, metadata={"stage": "deploy_canary", "model_uri": model_uri})
    return {**result, "rollout_uri": publish_uri or str(rollout_dir)}


def promote_or_rollback_step(decision: str, config: InferenceServiceConfig, result_dir: str | Path,
                             rollout_uri: str = "") -> dict[str, Any]:
    """The promotion step: in GitOps mode the tree the canary step published at ``rollout_uri`` is fetched into
    ``result_dir`` and updated there; in apply mode the live InferenceService is patched. ``outcome.json`` in
    ``result_dir`` records what was done."""
    current = None
    if config.deploy_mode == "gitops" and decision != "continue":
        if not rollout_uri:
            raise ValueError("gitops mode needs rollout_uri: where the canary step published its rollout tree")
        from relevance_distill import storage

        storage.fetch_dir(rollout_uri, result_dir)
        current = read_canary_record(result_dir)
    outcome = promote_or_rollback(decision, config.deploy_mode, config,
                                  gitops_dir=result_dir if config.deploy_mode == "gitops" else None, current=current)
    Path(result_dir).mkdir(parents=True, exist_ok=True)
    (Path(result_dir) / OUTCOME_RECORD).write_text(
        json.dumps({k: v for k, v in outcome.items() if k != "yaml"}, indent=2, default=str), encoding="utf-8")
    report_result(f"{decision}: action {outcome['action']}")
    return outcome
