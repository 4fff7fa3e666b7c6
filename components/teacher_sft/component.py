from typing import Optional

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("teacher_sft"), install_kfp_package=False)
def teacher_sft(
    train_uri: str,
    init_model_uri: str,
    output_uri: str,
    training: Output[Metrics],
    profile: Optional[str] = None,
    config_json: str = "{}",
    label_scheme: Optional[str] = None,
    dev_uri: str = "",
    trainjob_json: str = "",
    trainer_image: str = "",
) -> str:
    """Reasoning SFT (loss on the answer only) from INIT_MODEL_URI (the CPT model); returns OUTPUT_URI/model. With
    DEV_URI (gold dev pairs) a profile with ``give_up_checks`` stops a model that stays at the majority class early.

    Given several GPUs it trains in one worker per GPU; with TRAINJOB_JSON (a TrainJobConfig) it submits a
    Kubeflow Trainer TrainJob running TRAINER_IMAGE on several nodes and waits for it.
    """
    from relevance_distill.config import label_scheme_named
    from relevance_distill.teacher.profiles import step_config
    from relevance_distill.teacher.stages import read_pairs, training_scalars
    from relevance_distill.teacher.worker import run_teacher_step

    result = run_teacher_step("sft", step_config(profile, "sft", config_json), read_pairs(train_uri), label_scheme_named(label_scheme),
                      output_uri, init_model_uri, dev_pairs=read_pairs(dev_uri) if dev_uri else None,
                      trainjob_json=trainjob_json, image=trainer_image, work_uri=output_uri)
    for key, value in training_scalars(result["metrics"], "examples").items():
        training.log_metric(key, value)
    return result["model_uri"]
