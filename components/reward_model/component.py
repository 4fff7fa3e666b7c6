from typing import Optional

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("reward_model"), install_kfp_package=False)
def reward_model(
    train_uri: str,
    output_uri: str,
    training: Output[Metrics],
    profile: Optional[str] = None,
    config_json: str = "{}",
    label_scheme: Optional[str] = None,
    sft_model_uri: str = "",
    trainjob_json: str = "",
    trainer_image: str = "",
) -> str:
    """Multi-dimensional reward model: learned heads trained pairwise (Bradley–Terry) on pairs from gold data.

    SFT_MODEL_URI (the teacher's SFT model) is the heads' backbone where the reward config's init is 'sft'.
    Returns OUTPUT_URI/model; TRAINING holds the held-out ranking accuracy of each learned head. After an SFT model
    that gave up (its metrics.json ``give_up``) nothing is trained and it returns an empty URI.

    Given several GPUs it trains in one worker per GPU; with TRAINJOB_JSON (a TrainJobConfig) it submits a
    Kubeflow Trainer TrainJob running TRAINER_IMAGE on several nodes and waits for it.
    """
    from relevance_distill.config import label_scheme_named
    from relevance_distill.teacher.profiles import step_config
    from relevance_distill.teacher.stages import read_pairs
    from relevance_distill.teacher.worker import run_teacher_step

    result = run_teacher_step("reward", step_config(profile, "reward", config_json), read_pairs(train_uri),
                         label_scheme_named(label_scheme), output_uri, sft_model_uri=sft_model_uri or None,
                         trainjob_json=trainjob_json, image=trainer_image, work_uri=output_uri)
    training.log_metric("preference_pairs", result["metrics"]["pairs"])
    for head, accuracy in result["metrics"]["held_out_accuracy"].items():
        training.log_metric(f"held_out_accuracy_{head}", accuracy)
    return result["model_uri"]
