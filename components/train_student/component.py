from typing import Optional

from kfp import dsl
from kfp.dsl import Metrics, Model, Output

from components.images import component_image


@dsl.component(base_image=component_image("train_student"), install_kfp_package=False)
def train_student(
    train_uri: str,
    dev_uri: str,
    models: Output[Model],
    training: Output[Metrics],
    methods: Optional[str] = None,
    profile: Optional[str] = None,
    annotations_uri: str = "",
    annotated_pairs_uri: str = "",
    label_scheme: Optional[str] = None,
    config_json: str = "{}",
    selection_decoding: Optional[str] = None,
):
    """Train CRSD and the baselines with identical data, steps and seeds; MODELS holds one directory per method.

    Training pairs are TRAIN_URI (gold labels) plus the pairs of ANNOTATED_PAIRS_URI (e.g. search logs) that the
    teacher labelled in ANNOTATIONS_URI (see ``student.compare.training_pairs`` for the label rule). METHODS is
    comma-separated; PROFILE is a student profile; CONFIG_JSON overrides single StudentTrainConfig fields.
    SELECTION_DECODING (the gate's decoding in the pipelines) picks each method's best dev checkpoint unless
    CONFIG_JSON names one.
    """
    import json

    from relevance_distill.config import (
        label_scheme_named,
        parse_methods,
        student_config_for,
    )
    from relevance_distill.student.compare import train_from_uris

    selection = {"selection_decoding": selection_decoding} if selection_decoding else {}
    config = student_config_for(profile, **{**selection, **json.loads(config_json or "{}")})
    result = train_from_uris(train_uri, dev_uri, models.path, parse_methods(methods), config,
                             label_scheme_named(label_scheme), annotations_uri, annotated_pairs_uri)
    for method, trained in result["methods"].items():
        training.log_metric(f"{method}_best_dev_macro_f1", trained["best_dev_macro_f1"])
        training.log_metric(f"{method}_seconds", trained["seconds"])
    for key, value in result["data"].items():
        training.log_metric(key, value)
    models.metadata.update({"methods": list(result["methods"]), "max_length": config.max_length})
