from kfp import dsl
from kfp.dsl import Metrics, Model, Output

from components.images import component_image


@dsl.component(base_image=component_image("train_student"), install_kfp_package=False)
def train_student(
    train_uri: str,
    dev_uri: str,
    models: Output[Model],
    training: Output[Metrics],
    methods: str = "crsd,vanilla,logit_kd",
    profile: str = "demo",
    annotations_uri: str = "",
    annotated_pairs_uri: str = "",
    label_scheme: str = "local_services",
    config_json: str = "{}",
):
    """Train CRSD and the baselines with identical data, steps and seeds; MODELS holds one directory per method.

    Training pairs are TRAIN_URI (gold labels) plus the pairs of ANNOTATED_PAIRS_URI (e.g. search logs) that the
    teacher labelled in ANNOTATIONS_URI; an annotation overrides the gold label of the same pair_id.
    """
    import json

    from relevance_distill.config import student_config_for
    from relevance_distill.data.readers import read_models
    from relevance_distill.schemas import QueryServicePair, get_label_scheme
    from relevance_distill.student.compare import load_annotations, train_methods

    config = student_config_for(profile, **json.loads(config_json))
    annotations = load_annotations(annotations_uri or None)
    train_pairs = read_models(train_uri, QueryServicePair)
    if annotated_pairs_uri:
        if annotations is None:
            raise ValueError(f"annotated_pairs_uri {annotated_pairs_uri!r} needs annotations_uri (the teacher's labels)")
        train_pairs += [p for p in read_models(annotated_pairs_uri, QueryServicePair) if p.pair_id in annotations]
    results = train_methods([m.strip() for m in methods.split(",") if m.strip()], config,
                            get_label_scheme(label_scheme), train_pairs,
                            read_models(dev_uri, QueryServicePair), models.path, annotations,
                            show_progress=False)
    for method, result in results.items():
        training.log_metric(f"{method}_best_dev_macro_f1", result["best_dev_macro_f1"])
        training.log_metric(f"{method}_seconds", result["seconds"])
    training.log_metric("train_pairs", len(train_pairs))
    training.log_metric("teacher_annotations", len(annotations or {}))
    models.metadata.update({"methods": list(results), "max_length": config.max_length})
