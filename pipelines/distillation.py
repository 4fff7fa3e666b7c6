"""distillation_pipeline: prepare → teacher (CPT → SFT → reward model on the SFT model → DPO) → check the teacher on dev →
annotate in parallel shards → merge → train CRSD and baselines → evaluate → gate → export → deploy canary. A teacher
trained here that does not beat the majority class on dev takes the "gold-only" branch instead of annotation and
distillation: the gold-only student is trained alone (``evaluation/teacher_check.py``).

Every teacher step is skippable: pass an existing published model URI (``cpt_model_uri``, ``sft_model_uri``,
``reward_model_uri``, or ``teacher_model_uri`` for the whole teacher) and the step is replaced by a check of
that model's manifest. Annotation shards whose output already exists and verifies are skipped, so a rerun
with the same ``artifacts_uri`` redoes only unfinished shards.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Model

from components.annotate_shard.component import annotate_shard
from components.check_teacher.component import check_teacher
from components.deploy_canary.component import deploy_canary
from components.evaluate_student.component import evaluate_student
from components.export_student.component import export_student
from components.gate.component import gate
from components.images import COMPONENT_IMAGES, image
from components.merge_annotations.component import merge_annotations
from components.prepare_data.component import prepare_data
from components.reward_model.component import reward_model
from components.skip_annotation.component import skip_annotation
from components.teacher_cpt.component import teacher_cpt
from components.teacher_preference.component import teacher_preference
from components.teacher_sft.component import teacher_sft
from components.train_student.component import train_student
from components.use_existing_model.component import use_existing_model
from pipelines.kubernetes import task_configurer
from relevance_distill import layout
from relevance_distill.config import KubernetesConfig
from relevance_distill.pipeline_parameters import pipeline_defaults

# What a run hands back (kfp.local returns these; on a cluster they are the run's outputs).
DistillationOutputs = NamedTuple("DistillationOutputs", [("models", Model), ("evaluation", Artifact),
                                                         ("gate_decision", Artifact), ("gate_passed", bool),
                                                         ("teacher_decision", str)])


def build_distillation_pipeline(cluster: KubernetesConfig | None = None, local: bool = False,
                                annotation_shards: int | None = None):
    """The pipeline function; ``local=True`` skips Kubernetes-only task settings (kfp.local runs).

    ``annotation_shards`` (default: ``cluster.annotation_shards``) fixes the annotation fan-out at compile time.
    Parameter defaults come from the config models (``pipeline_defaults``), never restated here.
    """
    cluster = cluster or KubernetesConfig()
    defaults = pipeline_defaults(cluster)
    configure = task_configurer(cluster, local)
    annotation_shards = annotation_shards or cluster.annotation_shards
    shard_indices = list(range(annotation_shards))

    @dsl.pipeline(name="relevance-distillation", description="Distil a reasoning teacher into a BERT relevance student (CRSD).")
    def distillation_pipeline(
        labeled_uri: str,
        artifacts_uri: str,
        model_version: str,
        corpus_uri: str = "",
        unlabeled_uri: str = "",
        labeled_test_uri: str = "",
        products_uri: str = "",
        cpt_model_uri: str = "",
        sft_model_uri: str = "",
        reward_model_uri: str = "",
        teacher_model_uri: str = "",
        teacher_profile: str = defaults["teacher_profile"],
        cpt_config_json: str = "{}",
        sft_config_json: str = "{}",
        reward_config_json: str = "{}",
        preference_config_json: str = "{}",
        teacher_eval_pairs: int = defaults["teacher_eval_pairs"],
        teacher_min_gain_over_majority: float = defaults["teacher_min_gain_over_majority"],
        annotation_engine: str = defaults["annotation_engine"],
        annotation_samples: int = defaults["annotation_samples"],
        annotation_temperature: float = defaults["annotation_temperature"],
        annotation_max_new_tokens: int = defaults["annotation_max_new_tokens"],
        annotation_max_pairs: int = defaults["annotation_max_pairs"],
        stable_model_uri: str = "",
        input_format: str = defaults["input_format"],
        label_scheme: str = defaults["label_scheme"],
        split_strategy: str = defaults["split_strategy"],
        split_fractions_json: str = "",
        split_seed: int = defaults["split_seed"],
        student_profile: str = defaults["student_profile"],
        student_methods: str = defaults["student_methods"],
        student_config_json: str = "{}",
        gate_decoding: str = defaults["gate_decoding"],
        min_macro_f1: float = defaults["min_macro_f1"],
        min_retention: float = defaults["min_retention"],
        max_regression: float = defaults["max_regression"],
        max_loss_to_gold_only: float = defaults["max_loss_to_gold_only"],
        when_worse_than_gold_only: str = defaults["when_worse_than_gold_only"],
        production_metrics_uri: str = "",
        latency_requests: int = defaults["latency_requests"],
        deploy_mode: str = defaults["deploy_mode"],
        canary_traffic_percent: int = defaults["canary_traffic_percent"],
        service_name: str = defaults["service_name"],
        namespace: str = defaults["namespace"],
    ) -> DistillationOutputs:
        prepared = configure(prepare_data(input_uri=labeled_uri, output_uri=layout.prepared_uri(artifacts_uri),
                                          input_format=input_format, label_scheme=label_scheme,
                                          products_uri=products_uri, test_uri=labeled_test_uri,
                                          unlabeled_uri=unlabeled_uri, split_strategy=split_strategy,
                                          split_fractions_json=split_fractions_json, seed=split_seed),
                             "prepare_data")
        train_uri, test_uri = prepared.outputs["train_uri"], prepared.outputs["test_uri"]
        # What the teacher annotates: the logs minus dev/test queries, or the training pairs without logs. The
        # shards name it by a pipeline-input path (see the ParallelFor below); the other steps take the output.
        annotation_input_uri = prepared.outputs["unlabeled_uri"]
        shard_input_uri = layout.unlabeled_uri(artifacts_uri)

        # More than one node per teacher step: each submits a Kubeflow Trainer TrainJob running the trainer image.
        on_nodes = ({"trainjob_json": cluster.teacher_trainjob.model_dump_json(),
                     "trainer_image": image(COMPONENT_IMAGES["teacher_sft"], cluster.image_variant)}
                    if cluster.teacher_trainjob else {})
        with dsl.If(teacher_model_uri == "", name="train-teacher"):
            with dsl.If(sft_model_uri == "", name="train-sft"):
                with dsl.If(cpt_model_uri == "", name="train-cpt"):
                    cpt = configure(teacher_cpt(corpus_uri=corpus_uri, output_uri=layout.teacher_step_uri(artifacts_uri, "cpt"),
                                                train_uri=train_uri, unlabeled_uri=annotation_input_uri,
                                                profile=teacher_profile,
                                                config_json=cpt_config_json, label_scheme=label_scheme, **on_nodes),
                                    "teacher_cpt")
                with dsl.Else(name="existing-cpt"):
                    existing_cpt = configure(use_existing_model(model_uri=cpt_model_uri), "use_existing_model",
                                             "existing CPT model")
                sft = configure(teacher_sft(train_uri=train_uri, init_model_uri=dsl.OneOf(cpt.outputs["Output"], existing_cpt.output),
                                            output_uri=layout.teacher_step_uri(artifacts_uri, "sft"), profile=teacher_profile,
                                            config_json=sft_config_json, label_scheme=label_scheme,
                                            dev_uri=prepared.outputs["dev_uri"], **on_nodes),
                                "teacher_sft")
            with dsl.Else(name="existing-sft"):
                existing_sft = configure(use_existing_model(model_uri=sft_model_uri), "use_existing_model",
                                         "existing SFT model")
            sft_model = dsl.OneOf(sft.outputs["Output"], existing_sft.output)
            with dsl.If(reward_model_uri == "", name="train-reward-model"):
                reward = configure(reward_model(train_uri=train_uri, output_uri=layout.teacher_step_uri(artifacts_uri, "reward"),
                                                profile=teacher_profile, config_json=reward_config_json,
                                                label_scheme=label_scheme, sft_model_uri=sft_model, **on_nodes),
                                   "reward_model")
            with dsl.Else(name="existing-reward-model"):
                existing_reward = configure(use_existing_model(model_uri=reward_model_uri), "use_existing_model",
                                            "existing reward model")
            preference = configure(teacher_preference(
                sft_model_uri=sft_model,
                reward_model_uri=dsl.OneOf(reward.outputs["Output"], existing_reward.output), train_uri=train_uri,
                output_uri=layout.teacher_step_uri(artifacts_uri, "preference"), test_uri=test_uri,
                dev_uri=prepared.outputs["dev_uri"], eval_pairs=teacher_eval_pairs,
                profile=teacher_profile, config_json=preference_config_json, label_scheme=label_scheme, **on_nodes),
                "teacher_preference")
        with dsl.Else(name="existing-teacher"):
            existing_teacher = configure(use_existing_model(model_uri=teacher_model_uri), "use_existing_model",
                                     "existing teacher")
        teacher = configure(use_existing_model(model_uri=dsl.OneOf(preference.outputs["Output"], existing_teacher.output)),
                            "use_existing_model", "teacher model")
        teacher_uri = teacher.output
        checked = configure(check_teacher(teacher_model_uri=teacher_uri, student_methods=student_methods,
                                          given_teacher_model_uri=teacher_model_uri,
                                          min_gain_over_majority=teacher_min_gain_over_majority), "check_teacher")

        with dsl.If(checked.outputs["distil"] == True, name="distil"):  # noqa: E712 (KFP condition syntax)
            with dsl.ParallelFor(items=shard_indices, name="annotation-shards",
                                 parallelism=cluster.annotation_parallelism) as shard_index:
                # The shards name the teacher by pipeline inputs, not by TEACHER's output: kfp.local (2.17) replaces
                # every task output consumed inside a ParallelFor with the loop item. .after keeps the order.
                shard = configure(annotate_shard(
                    teacher_model_uri=teacher_model_uri,
                    trained_teacher_model_uri=layout.teacher_model_uri(artifacts_uri, "preference"),
                    input_uri=shard_input_uri, output_uri=layout.annotations_uri(artifacts_uri),
                    shard_index=shard_index, num_shards=annotation_shards, engine=annotation_engine,
                    samples=annotation_samples, temperature=annotation_temperature,
                    max_new_tokens=annotation_max_new_tokens, max_pairs=annotation_max_pairs,
                    # vLLM's tensor parallelism is every GPU the shard requests (fixed at compile time, one source).
                    tensor_parallel_size=cluster.annotation_tensor_parallel_size(), label_scheme=label_scheme,
                    ).after(teacher, prepared),
                    "annotate_shard")
            merged = configure(merge_annotations(output_uri=layout.annotations_uri(artifacts_uri), num_shards=annotation_shards,
                                                 shard_uris=dsl.Collected(shard.outputs["Output"]),
                                                 input_uri=annotation_input_uri, max_pairs=annotation_max_pairs),
                               "merge_annotations")
        with dsl.Else(name="gold-only"):
            skipped = configure(skip_annotation(output_uri=layout.annotations_uri(artifacts_uri),
                                                decision=checked.outputs["decision"]), "skip_annotation")
        # One training step for both branches (kfp.local cannot select between artifacts): the check names the
        # methods (the gold-only student alone when skipped) and the branches the annotations ('' when skipped).
        trained = configure(train_student(train_uri=train_uri, dev_uri=prepared.outputs["dev_uri"],
                                          methods=checked.outputs["student_methods"], profile=student_profile,
                                          annotations_uri=dsl.OneOf(merged.outputs["Output"], skipped.output),
                                          annotated_pairs_uri=annotation_input_uri, label_scheme=label_scheme,
                                          config_json=student_config_json, selection_decoding=gate_decoding),
                            "train_student")
        models = trained.outputs["models"]
        evaluated = configure(evaluate_student(models=models, test_uri=test_uri,
                                               dev_uri=prepared.outputs["dev_uri"],
                                               label_scheme=label_scheme, teacher_model_uri=teacher_uri,
                                               latency_requests=latency_requests, publish_uri=layout.evaluation_uri(artifacts_uri)),
                              "evaluate_student")
        decision = configure(gate(evaluation=evaluated.outputs["evaluation"], min_macro_f1=min_macro_f1,
                                  min_retention=min_retention, max_regression=max_regression,
                                  production_metrics_uri=production_metrics_uri, decoding=gate_decoding,
                                  max_loss_to_gold_only=max_loss_to_gold_only,
                                  when_worse_than_gold_only=when_worse_than_gold_only), "gate")
        with dsl.If(decision.outputs["Output"] == True, name="release"):  # noqa: E712 (KFP condition syntax)
            exported = configure(export_student(models=models, evaluation=evaluated.outputs["evaluation"],
                                                output_root_uri=artifacts_uri, version=model_version,
                                                gate_decision=decision.outputs["decision"],
                                                label_scheme=label_scheme, test_uri=test_uri,
                                                calibration_uri=prepared.outputs["dev_uri"]),
                                 "export_student")
            configure(deploy_canary(model_uri=exported.output, model_version=model_version, mode=deploy_mode,
                                    stable_model_uri=stable_model_uri, canary_traffic_percent=canary_traffic_percent,
                                    publish_uri=layout.rollout_uri(artifacts_uri), service_name=service_name,
                                    namespace=namespace), "deploy_canary")
        return DistillationOutputs(models=models, evaluation=evaluated.outputs["evaluation"],
                                   gate_decision=decision.outputs["decision"], gate_passed=decision.outputs["Output"],
                                   teacher_decision=checked.outputs["decision"])

    return distillation_pipeline
