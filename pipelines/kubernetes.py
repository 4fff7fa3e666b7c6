"""Cluster settings applied to every task at compile time: S3 credentials by Secret reference, the images' non-root
user, GPUs, limits."""

from __future__ import annotations

from kfp import kubernetes

from components.images import IMAGE_UID
from relevance_distill.config import KubernetesConfig


def configure_task(task, component_name: str, config: KubernetesConfig):
    kubernetes.use_secret_as_env(task, secret_name=config.s3_secret_name,
                                 secret_key_to_env={"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                                                    "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"})
    if config.s3_endpoint_url:
        task.set_env_variable("AWS_ENDPOINT_URL", config.s3_endpoint_url)
    # The KFP backend adds allowPrivilegeEscalation=false, drop ALL capabilities and the RuntimeDefault seccomp
    # profile to every step container itself (kfp-kubernetes' set_security_context).
    kubernetes.set_security_context(task, run_as_user=IMAGE_UID, run_as_group=IMAGE_UID, run_as_non_root=True)
    task.set_cpu_limit(config.cpu_limit)
    task.set_memory_limit(config.memory_limit)
    if config.gpu_count and component_name in config.gpu_components:
        task.set_accelerator_type(config.gpu_resource)
        task.set_accelerator_limit(config.gpu_count)
        for label, value in config.node_selector.items():
            kubernetes.add_node_selector(task, label_key=label, label_value=value)
        for toleration in config.tolerations:
            kubernetes.add_toleration(task, key=toleration.get("key"), operator=toleration.get("operator", "Equal"),
                                      value=toleration.get("value"), effect=toleration.get("effect"))
    return task


def task_configurer(cluster: KubernetesConfig, local: bool):
    """Sets each task's display name and, unless running under kfp.local, its cluster settings."""

    def configure(task, component_name: str, display_name: str | None = None):
        task.set_display_name(display_name or component_name.replace("_", " "))
        return task if local else configure_task(task, component_name, cluster)

    return configure
