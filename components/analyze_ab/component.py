from kfp import dsl
from kfp.dsl import HTML, Artifact, Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("analyze_ab"), install_kfp_package=False)
def analyze_ab(
    events_uri: str,
    decision: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    alpha: float = 0.05,
    expected_split: float = 0.1,
    primary_metric: str = "ctr",
) -> str:
    """A/B analysis of the canary's logged impressions: SRM, lifts, fixed and sequential tests, guardrails."""
    import shutil

    from relevance_distill.rollout.abtest import ABTestConfig, analyze_events, decision_document, load_events, write_report

    config = ABTestConfig(alpha=alpha, expected_split=expected_split, primary_metric=primary_metric)
    columns, counts = load_events(events_uri)
    document = decision_document(analyze_events(columns, config), counts)
    write_report(document, decision.path)
    shutil.copyfile(f"{decision.path}/report.html", report.path)
    for name in ("ctr", "cvr", "gtv"):
        metrics.log_metric(f"{name}_lift", document[name]["lift"])
        metrics.log_metric(f"{name}_sequential_p_value", document[name]["sequential_p_value"])
    metrics.log_metric("srm_p_value", document["srm"]["p_value"])
    print(f"decision: {document['decision']}: {'; '.join(document['reasons'])}")
    return document["decision"]
