"""distillation_pipeline: prepare → train CRSD and baselines → evaluate → gate → export → deploy canary.

The teacher stages (CPT, SFT, reward model, DPO, sharded annotation) are not built yet; until they are,
the student learns from existing teacher annotations (``annotations_uri``) or, without them, from the gold
labels and reasoning chains of the prepared data.
"""


from kfp import dsl

from components.deploy_canary.component import deploy_canary
from components.evaluate_student.component import evaluate_student
from components.export_student.component import export_student
from components.gate.component import gate
from components.prepare_data.component import prepare_data
from components.train_student.component import train_student
from pipelines.kubernetes import task_configurer
from relevance_distill.config import KubernetesConfig


def build_distillation_pipeline(cluster: KubernetesConfig | None = None, local: bool = False):
    """The pipeline function; ``local=True`` skips Kubernetes-only task settings (kfp.local runs)."""
    configure = task_configurer(cluster or KubernetesConfig(), local)

    @dsl.pipeline(name="relevance-distillation", description="Distil a reasoning teacher into a BERT relevance student (CRSD).")
    def distillation_pipeline(
        labeled_uri: str,
        artifacts_uri: str,
        model_version: str,
        stable_model_uri: str = "",
        annotations_uri: str = "",
        input_format: str = "jsonl",
        label_scheme: str = "local_services",
        student_profile: str = "demo",
        student_methods: str = "crsd,vanilla,logit_kd",
        student_config_json: str = "{}",
        teacher_macro_f1: float = 0.0,
        min_macro_f1: float = 0.5,
        min_retention: float = 0.0,
        production_metrics_uri: str = "",
        max_length: int = 96,
        deploy_mode: str = "gitops",
        canary_traffic_percent: int = 10,
    ):
        prepared = configure(prepare_data(input_uri=labeled_uri, output_uri=f"{artifacts_uri}/prepared",
                                          input_format=input_format, label_scheme=label_scheme), "prepare_data")
        trained = configure(train_student(train_uri=prepared.outputs["train_uri"], dev_uri=prepared.outputs["dev_uri"],
                                          methods=student_methods, profile=student_profile, annotations_uri=annotations_uri,
                                          label_scheme=label_scheme, config_json=student_config_json), "train_student")
        evaluated = configure(evaluate_student(models=trained.outputs["models"], test_uri=prepared.outputs["test_uri"],
                                               label_scheme=label_scheme, teacher_macro_f1=teacher_macro_f1,
                                               max_length=max_length, publish_uri=f"{artifacts_uri}/evaluation"),
                              "evaluate_student")
        decision = configure(gate(evaluation=evaluated.outputs["evaluation"], min_macro_f1=min_macro_f1,
                                  min_retention=min_retention, production_metrics_uri=production_metrics_uri,
                                  teacher_macro_f1=teacher_macro_f1), "gate")
        with dsl.If(decision.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (KFP condition syntax)
            exported = configure(export_student(models=trained.outputs["models"], evaluation=evaluated.outputs["evaluation"],
                                                output_root_uri=artifacts_uri, version=model_version,
                                                label_scheme=label_scheme, max_length=max_length), "export_student")
            configure(deploy_canary(model_uri=exported.output, model_version=model_version, mode=deploy_mode,
                                    stable_model_uri=stable_model_uri, canary_traffic_percent=canary_traffic_percent,
                                    publish_uri=f"{artifacts_uri}/rollout"), "deploy_canary")

    return distillation_pipeline
