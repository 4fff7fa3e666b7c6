from kfp import dsl
from kfp.dsl import Artifact, Output

from components.images import component_image


@dsl.component(base_image=component_image("promote_or_rollback"), install_kfp_package=False)
def promote_or_rollback(
    decision: str,
    result: Output[Artifact],
    mode: str = "apply",
    rollout_uri: str = "",
    namespace: str = "relevance-distill",
    service_name: str = "relevance",
) -> str:
    """Promote the canary to 100 %, roll it back to 0 %, or leave it (decision 'continue').

    mode=apply reads and patches the live InferenceService; mode=gitops takes the tree deploy_canary
    published at ROLLOUT_URI and writes the updated overlays into RESULT.
    """
    import json
    import os

    from relevance_distill import storage
    from relevance_distill.rollout.deploy import promote_or_rollback as act
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    current = None
    if mode == "gitops":
        storage.fetch_dir(rollout_uri, result.path)
        with open(os.path.join(result.path, "canary.json"), encoding="utf-8") as handle:
            current = json.load(handle)
    outcome = act(decision, mode, InferenceServiceConfig(name=service_name, namespace=namespace),
                  gitops_dir=result.path if mode == "gitops" else None, current=current)
    os.makedirs(result.path, exist_ok=True)
    with open(os.path.join(result.path, "outcome.json"), "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in outcome.items() if k != "yaml"}, handle, indent=2, default=str)
    return outcome["action"]
