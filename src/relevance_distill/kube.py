"""A Kubernetes API client with the credentials of where the code runs: the pod's ServiceAccount in a cluster, else
the kube config (``KUBECONFIG``). The callers (``rollout/cluster.py``, ``teacher/trainjob.py``) make the calls."""

from __future__ import annotations

import os
from typing import Any


def api_client() -> Any:
    from kubernetes import client
    from kubernetes import config as kube_config

    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        # KUBECONFIG as it is now (the client library reads it once, at import).
        kube_config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    return client.ApiClient()
