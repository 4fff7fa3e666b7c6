from typing import Optional

from kfp import dsl
from kfp.dsl import Artifact, Output

from components.images import component_image


@dsl.component(base_image=component_image("promote_or_rollback"), install_kfp_package=False)
def promote_or_rollback(
    decision: str,
    result: Output[Artifact],
    mode: Optional[str] = None,
    rollout_uri: str = "",
    namespace: Optional[str] = None,
    service_name: Optional[str] = None,
) -> str:
    """Promote the canary to 100 %, roll it back to 0 %, or leave it (decision 'continue').

    mode=apply reads and patches the live InferenceService; mode=gitops takes the tree deploy_canary
    published at ROLLOUT_URI and writes the updated overlays into RESULT (with outcome.json).
    """
    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.deploy import promote_or_rollback_step
    from relevance_distill.rollout.isvc import InferenceServiceConfig

    config = config_from_arguments(InferenceServiceConfig, deploy_mode=mode, namespace=namespace, name=service_name)
    return promote_or_rollback_step(decision, config, result.path, rollout_uri)["action"]
