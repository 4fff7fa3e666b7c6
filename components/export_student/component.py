from kfp import dsl
from kfp.dsl import Artifact, Input, Model

from components.images import component_image


@dsl.component(base_image=component_image("export_student"), install_kfp_package=False)
def export_student(
    models: Input[Model],
    evaluation: Input[Artifact],
    output_root_uri: str,
    version: str,
    name: str = "relevance",
    method: str = "crsd",
    label_scheme: str = "local_services",
    max_length: int = 96,
    onnx: bool = True,
) -> str:
    """Export METHOD's standard view (projection head dropped) to OUTPUT_ROOT_URI/models/NAME/VERSION/."""
    import json
    import os

    from relevance_distill.export import export_student as export
    from relevance_distill.schemas import get_label_scheme

    metrics = json.load(open(os.path.join(evaluation.path, "metrics", f"{method}.json"), encoding="utf-8"))
    result = export(os.path.join(models.path, method, "best"), output_root_uri, get_label_scheme(label_scheme), name,
                    version, metrics, max_length, method, onnx=onnx)
    return result["model_uri"]
