from typing import Optional

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.images import component_image


@dsl.component(base_image=component_image("teacher_preference"), install_kfp_package=False)
def teacher_preference(
    sft_model_uri: str,
    reward_model_uri: str,
    train_uri: str,
    output_uri: str,
    training: Output[Metrics],
    teacher_metrics: Output[Metrics],
    preference_pairs: Output[Dataset],
    test_uri: str = "",
    dev_uri: str = "",
    eval_pairs: Optional[int] = None,
    profile: Optional[str] = None,
    config_json: str = "{}",
    label_scheme: Optional[str] = None,
    trainjob_json: str = "",
    trainer_image: str = "",
) -> str:
    """Sample k answers per prompt, score them with the reward model, train DPO against the SFT model.

    Returns OUTPUT_URI/model. PREFERENCE_PAIRS holds the scored (chosen, rejected) pairs. With TEST_URI the SFT
    and DPO teachers answer the first EVAL_PAIRS gold test pairs (unset or 0: all of them, as retention needs): TEACHER_METRICS holds macro-F1, the majority-class
    baseline and every reward dimension before and after DPO (also in the model's evaluation.json). With DEV_URI the
    DPO teacher also labels every gold dev pair (evaluation.json ``dev``): the run's gate compares it on dev with the
    student trained without it. After an SFT model that gave up (its metrics.json ``give_up``) DPO is not trained:
    the SFT model is published as the teacher, evaluated the same way, with no preference pairs.

    Given several GPUs it trains in one worker per GPU; with TRAINJOB_JSON (a TrainJobConfig) it submits a
    Kubeflow Trainer TrainJob running TRAINER_IMAGE on several nodes and waits for it.
    """
    from relevance_distill import storage
    from relevance_distill.config import label_scheme_named
    from relevance_distill.teacher.profiles import step_config
    from relevance_distill.teacher.stages import (
        read_pairs,
        teacher_evaluation_scalars,
    )
    from relevance_distill.teacher.worker import run_teacher_step

    result = run_teacher_step("preference", step_config(profile, "preference", config_json), sft_model_uri, reward_model_uri,
                             read_pairs(train_uri), label_scheme_named(label_scheme), output_uri,
                             read_pairs(test_uri) if test_uri else None, eval_pairs,
                             dev_pairs=read_pairs(dev_uri) if dev_uri else None, trainjob_json=trainjob_json,
                             image=trainer_image, work_uri=output_uri)
    storage.download_file(result["pairs_uri"], preference_pairs.path)
    preference_pairs.metadata.update({"uri": result["pairs_uri"], "pairs": result["metrics"]["pairs"]})
    training.log_metric("preference_pairs", result["metrics"]["pairs"])
    if "mean_reward_gap" in result["metrics"]:  # absent when DPO was skipped after an SFT that gave up
        training.log_metric("mean_reward_gap", result["metrics"]["mean_reward_gap"])
    for key, value in teacher_evaluation_scalars(result.get("evaluation")).items():
        teacher_metrics.log_metric(key, value)
    return result["model_uri"]
