"""Cluster settings applied to every task at compile time: S3 credentials by Secret reference, the images' non-root
user, each step's requests and limits, /dev/shm, a /scratch volume, GPUs."""

from __future__ import annotations

from kfp import kubernetes

from components.images import COMPONENT_IMAGES, IMAGE_UID, image
from relevance_distill.config import (
    SCRATCH_ENVIRONMENT,
    SCRATCH_MOUNT,
    KubernetesConfig,
)
from relevance_distill.devices import GPUS_ENVIRONMENT

# Steps that act on the world (deploy, promote or roll back) or read what it did since (the A/B events): a second run
# with the same inputs must act again, so KFP never answers them from its cache.
ACTING_STEPS = frozenset({"deploy_canary", "promote_or_rollback", "analyze_ab"})
# Steps whose failure can be a moment's (S3, the Kubernetes API, a preempted node), retried with backoff; the training
# steps resume from their last checkpoint, annotation shards skip what is published.
RETRIED_STEPS = frozenset({"prepare_data", "use_existing_model", "check_teacher", "skip_annotation",
                           "teacher_cpt", "teacher_sft", "reward_model",
                           "teacher_preference", "annotate_shard", "merge_annotations", "train_student",
                           "evaluate_student", "export_student", "deploy_canary", "analyze_ab", "promote_or_rollback"})
# Steps bounded by KubernetesConfig.training_timeout_seconds.
TRAINING_STEPS = frozenset({"teacher_cpt", "teacher_sft", "reward_model", "teacher_preference", "annotate_shard",
                            "train_student"})


def configure_task(task, component_name: str, config: KubernetesConfig):
    kubernetes.use_secret_as_env(task, secret_name=config.s3_secret_name,
                                 secret_key_to_env={"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                                                    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"})
    if config.s3_endpoint_url:
        task.set_env_variable("AWS_ENDPOINT_URL", config.s3_endpoint_url)
    # The KFP backend adds allowPrivilegeEscalation=false, drop ALL capabilities and the RuntimeDefault seccomp
    # profile to every step container itself (kfp-kubernetes' set_security_context).
    kubernetes.set_security_context(task, run_as_user=IMAGE_UID, run_as_group=IMAGE_UID, run_as_non_root=True)
    if component_name in RETRIED_STEPS and config.retries:
        task.set_retry(num_retries=config.retries, backoff_duration=config.retry_backoff, backoff_factor=2.0,
                       backoff_max_duration="600s")
    if component_name in TRAINING_STEPS:
        kubernetes.set_timeout(task, config.training_timeout_seconds)
    resources = config.resources_for(component_name)
    task.set_cpu_request(resources.cpu_request)
    task.set_cpu_limit(resources.cpu_limit)
    task.set_memory_request(resources.memory_request)
    task.set_memory_limit(resources.memory_limit)
    if resources.shm_size:
        kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory",
                                   size_limit=resources.shm_size)
    if resources.scratch_size:
        # A generic ephemeral volume: a PVC created with the pod and deleted with it, so weights and caches never
        # fill the node's container layer and each attempt of a step starts clean.
        kubernetes.add_ephemeral_volume(task, volume_name="scratch", mount_path=SCRATCH_MOUNT,
                                        access_modes=["ReadWriteOnce"], size=resources.scratch_size,
                                        storage_class_name=resources.scratch_storage_class)
        for name, value in SCRATCH_ENVIRONMENT.items():
            task.set_env_variable(name, value)
    gpus = config.gpus_for(component_name)
    if gpus:
        if config.image_variant == "cuda":
            task.set_container_image(image(COMPONENT_IMAGES[component_name], "cuda"))
        task.set_accelerator_type(config.gpu_resource)
        task.set_accelerator_limit(gpus)
        task.set_env_variable(GPUS_ENVIRONMENT, str(gpus))  # the step fails at once if it cannot see them
        for label, value in config.node_selector.items():
            kubernetes.add_node_selector(task, label_key=label, label_value=value)
        for toleration in config.tolerations:
            kubernetes.add_toleration(task, key=toleration.get("key"), operator=toleration.get("operator", "Equal"),
                                      value=toleration.get("value"), effect=toleration.get("effect"))
    return task


def check_component_names(cluster: KubernetesConfig) -> None:
    """Refuses settings for components that do not exist (a misspelt name would silently get the defaults)."""
    unknown = sorted({*cluster.resources, *cluster.gpu_components} - set(COMPONENT_IMAGES))
    if unknown:
        raise ValueError(f"KubernetesConfig names unknown component(s) {unknown} (resources / gpu_components); "
                         f"allowed: {sorted(COMPONENT_IMAGES)}")


def task_configurer(cluster: KubernetesConfig, local: bool):
    """Sets each task's display name and, unless running under kfp.local, its cluster settings."""
    check_component_names(cluster)

    def configure(task, component_name: str, display_name: str | None = None):
        task.set_display_name(display_name or component_name.replace("_", " "))
        if component_name in ACTING_STEPS:
            task.set_caching_options(enable_caching=False)
        return task if local else configure_task(task, component_name, cluster)

    return configure
