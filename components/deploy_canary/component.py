from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Output

from components.images import component_image


@dsl.component(base_image=component_image("deploy_canary"), install_kfp_package=False)
def deploy_canary(
    model_uri: str,
    model_version: str,
    rollout: Output[Artifact],
    mode: Optional[str] = None,
    stable_model_uri: str = "",
    stable_version: str = "stable",
    canary_traffic_percent: Optional[int] = None,
    namespace: Optional[str] = None,
    service_name: Optional[str] = None,
    publish_uri: str = "",
) -> str:
    """Roll MODEL_URI out as a KServe canary: patch the cluster (mode=apply) or write GitOps overlays (mode=gitops).

    ROLLOUT holds the canary record (canary.json) and the GitOps tree; with PUBLISH_URI it is also published
    there, for promote_or_rollback. Unset settings take InferenceServiceConfig's defaults.
    """
    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.deploy import deploy_canary_step
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    config = config_from_arguments(InferenceServiceConfig, deploy_mode=mode, canary_traffic_percent=canary_traffic_percent,
                                   namespace=namespace, name=service_name)
    result = deploy_canary_step(model_uri, model_version, config, rollout.path, stable_model_uri or None,
                                stable_version, publish_uri)
    return result["rollout_uri"]
