from typing import Optional

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("teacher_cpt"), install_kfp_package=False)
def teacher_cpt(
    corpus_uri: str,
    output_uri: str,
    training: Output[Metrics],
    train_uri: str = "",
    unlabeled_uri: str = "",
    profile: Optional[str] = None,
    config_json: str = "{}",
    label_scheme: Optional[str] = None,
    trainjob_json: str = "",
    trainer_image: str = "",
) -> str:
    """Continued pre-training on platform text; returns OUTPUT_URI/model (checkpoints go to OUTPUT_URI/checkpoints).

    TRAIN_URI (gold pairs) feeds the tokenizer of a 'tiny' model built from scratch. Without a CORPUS_URI the
    text of the TRAIN_URI and UNLABELED_URI pairs is the corpus.

    Given several GPUs it trains in one worker per GPU; with TRAINJOB_JSON (a TrainJobConfig) it submits a
    Kubeflow Trainer TrainJob running TRAINER_IMAGE on several nodes and waits for it.
    """
    from relevance_distill.config import label_scheme_named
    from relevance_distill.teacher.profiles import step_config
    from relevance_distill.teacher.stages import read_pairs, training_scalars
    from relevance_distill.teacher.worker import run_teacher_step

    result = run_teacher_step("cpt", step_config(profile, "cpt", config_json), corpus_uri, output_uri, label_scheme_named(label_scheme),
                      read_pairs(train_uri) if train_uri else None,
                      unlabeled_pairs=read_pairs(unlabeled_uri) if unlabeled_uri else None,
                      trainjob_json=trainjob_json, image=trainer_image, work_uri=output_uri)
    for key, value in training_scalars(result["metrics"], "documents").items():
        training.log_metric(key, value)
    return result["model_uri"]
