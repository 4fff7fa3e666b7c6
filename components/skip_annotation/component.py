
from kfp import dsl

from components.images import component_image


@dsl.component(base_image=component_image("skip_annotation"), install_kfp_package=False)
def skip_annotation(output_uri: str, decision: str) -> str:
    """The gold-only branch's stand-in for annotation: writes DECISION (check_teacher's JSON) to
    OUTPUT_URI/skipped.json, so the run's artifacts say why there are no annotations, and returns no annotations ('')."""
    import json

    from relevance_distill import storage
    from relevance_distill.progress import report_result

    reason = json.loads(decision)["reason"]
    storage.write_text(storage.join(output_uri, "skipped.json"), decision)
    report_result(f"annotation skipped: {reason}")
    return ""
