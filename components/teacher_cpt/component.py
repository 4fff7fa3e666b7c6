from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("teacher_cpt"), install_kfp_package=False)
def teacher_cpt(
    corpus_uri: str,
    output_uri: str,
    training: Output[Metrics],
    train_uri: str = "",
    profile: str = "demo",
    config_json: str = "{}",
    label_scheme: str = "local_services",
) -> str:
    """Continued pre-training on platform text; returns OUTPUT_URI/model (checkpoints go to OUTPUT_URI/checkpoints).

    TRAIN_URI (gold pairs) only feeds the tokenizer of a 'tiny' model built from scratch.
    """
    from relevance_distill.schemas import get_label_scheme
    from relevance_distill.teacher.profiles import step_config
    from relevance_distill.teacher.stages import cpt_step, read_pairs

    result = cpt_step(step_config(profile, "cpt", config_json), corpus_uri, output_uri, get_label_scheme(label_scheme),
                      read_pairs(train_uri) if train_uri else None)
    curve = result["metrics"]["loss_curve"]
    training.log_metric("documents", result["metrics"]["documents"])
    training.log_metric("resumed_from_step", result["metrics"]["resumed_from_step"])
    if curve:
        training.log_metric("final_loss", curve[-1]["loss"])
    return result["model_uri"]
