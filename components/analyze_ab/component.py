from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("analyze_ab"), install_kfp_package=False)
def analyze_ab(
    events_uri: str,
    decision: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    alpha: Optional[float] = None,
    expected_split: Optional[float] = None,
    primary_metric: Optional[str] = None,
    canary_version: str = "",
    outcomes_uri: str = "",
) -> str:
    """A/B analysis of the canary's logged impressions: SRM, lifts, fixed and sequential tests, guardrails.

    EVENTS_URI is an impression log, or, with CANARY_VERSION, the event sink's prefix (joined with OUTCOMES_URI
    by request id). EXPECTED_SPLIT is the configured canary share of users (never read from the log); unset
    settings take ABTestConfig's defaults. Returns the decision: promote, rollback or continue.
    """
    import shutil

    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.abtest import ABTestConfig, analysis_step

    config = config_from_arguments(ABTestConfig, alpha=alpha, expected_split=expected_split, primary_metric=primary_metric)
    document = analysis_step(events_uri, config, decision.path, canary_version, outcomes_uri)
    shutil.copyfile(f"{decision.path}/report.html", report.path)
    for name, value in document["scalars"].items():
        metrics.log_metric(name, value)
    print(f"decision: {document['decision']}: {'; '.join(document['reasons'])}")
    return document["decision"]
