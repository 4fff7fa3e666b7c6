"""ab_analysis_pipeline: analyse the canary's logged impressions, then promote or roll back (a recurring run)."""


from kfp import dsl

from components.analyze_ab.component import analyze_ab
from components.promote_or_rollback.component import promote_or_rollback
from pipelines.kubernetes import task_configurer
from relevance_distill.config import KubernetesConfig


def build_ab_analysis_pipeline(cluster: KubernetesConfig | None = None, local: bool = False):
    configure = task_configurer(cluster or KubernetesConfig(), local)

    @dsl.pipeline(name="relevance-ab-analysis", description="Decide promotion or rollback of the canary student from A/B logs.")
    def ab_analysis_pipeline(
        events_uri: str,
        expected_split: float = 0.1,
        alpha: float = 0.05,
        primary_metric: str = "ctr",
        mode: str = "apply",
        rollout_uri: str = "",
    ):
        analysis = configure(analyze_ab(events_uri=events_uri, alpha=alpha, expected_split=expected_split,
                                        primary_metric=primary_metric), "analyze_ab")
        configure(promote_or_rollback(decision=analysis.outputs["Output"], mode=mode, rollout_uri=rollout_uri),
                  "promote_or_rollback")

    return ab_analysis_pipeline
