from kfp import dsl
from kfp.dsl import Artifact, Output

from components.images import component_image


@dsl.component(base_image=component_image("deploy_canary"), install_kfp_package=False)
def deploy_canary(
    model_uri: str,
    model_version: str,
    rollout: Output[Artifact],
    mode: str = "gitops",
    stable_model_uri: str = "",
    stable_version: str = "stable",
    canary_traffic_percent: int = 10,
    namespace: str = "relevance-distill",
    service_name: str = "relevance",
    publish_uri: str = "",
) -> str:
    """Roll MODEL_URI out as a KServe canary: patch the cluster (mode=apply) or write GitOps overlays (mode=gitops).

    With PUBLISH_URI the GitOps tree (and canary.json) is also published there, for promote_or_rollback.
    """
    import json
    import os

    from relevance_distill import storage
    from relevance_distill.rollout.deploy import deploy_canary as deploy
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    config = InferenceServiceConfig(name=service_name, namespace=namespace, canary_traffic_percent=canary_traffic_percent)
    result = deploy(model_uri, model_version, mode, config, gitops_dir=rollout.path,
                    stable_model_uri=stable_model_uri or None, stable_version=stable_version)
    os.makedirs(rollout.path, exist_ok=True)
    with open(os.path.join(rollout.path, "canary.json"), "w", encoding="utf-8") as handle:
        json.dump(result["resource"], handle, indent=2)
    if publish_uri:
        storage.publish_dir(rollout.path, publish_uri, metadata={"stage": "deploy_canary", "model_uri": model_uri})
    return publish_uri or rollout.path
