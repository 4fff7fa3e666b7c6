"""ab_analysis_pipeline: analyse the canary's logged impressions, then promote or roll back (a recurring run)."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact

from components.analyze_ab.component import analyze_ab
from components.promote_or_rollback.component import promote_or_rollback
from pipelines.kubernetes import task_configurer
from relevance_distill.config import KubernetesConfig
from relevance_distill.pipeline_parameters import pipeline_defaults

ABAnalysisOutputs = NamedTuple("ABAnalysisOutputs", [("decision", str), ("analysis", Artifact), ("action", str)])


def build_ab_analysis_pipeline(cluster: KubernetesConfig | None = None, local: bool = False):
    """The pipeline function; defaults come from the config models (``pipeline_defaults``)."""
    cluster = cluster or KubernetesConfig()
    configure = task_configurer(cluster, local)
    defaults = pipeline_defaults(cluster)

    @dsl.pipeline(name="relevance-ab-analysis", description="Decide promotion or rollback of the canary student from A/B logs.")
    def ab_analysis_pipeline(
        events_uri: str,
        expected_split: float = defaults["expected_split"],
        alpha: float = defaults["alpha"],
        primary_metric: str = defaults["primary_metric"],
        deploy_mode: str = defaults["deploy_mode"],
        rollout_uri: str = "",
        service_name: str = defaults["service_name"],
        namespace: str = defaults["namespace"],
        canary_version: str = "",
        outcomes_uri: str = "",
    ) -> ABAnalysisOutputs:
        analysis = configure(analyze_ab(events_uri=events_uri, alpha=alpha, expected_split=expected_split,
                                        primary_metric=primary_metric, canary_version=canary_version,
                                        outcomes_uri=outcomes_uri), "analyze_ab")
        acted = configure(promote_or_rollback(decision=analysis.outputs["Output"], mode=deploy_mode, rollout_uri=rollout_uri,
                                              service_name=service_name, namespace=namespace),
                          "promote_or_rollback")
        return ABAnalysisOutputs(decision=analysis.outputs["Output"], analysis=analysis.outputs["decision"],
                                 action=acted.outputs["Output"])

    return ab_analysis_pipeline
