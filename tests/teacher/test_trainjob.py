"""A teacher step on several nodes: the TrainJob manifest passes the Trainer CRD's schema, and the step submits it,
waits for it and reads its result, against a model of the Trainer that runs the trainer command for real.

The model follows kubeflow/trainer: ``pkg/apis/trainer/v1alpha1/trainjob_types.go`` (condition types Complete,
Failed; reason DeadlineExceeded) and the torch runtime, which starts the trainer's command with torchrun's ``PET_*``
variables set (``pkg/runtime/framework/plugins/torch``). Here one "node" runs the command on this machine, with the
environment the manifest gives it (Secret references resolved from the model's Secrets) and the real S3 server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relevance_distill import storage
from relevance_distill.builtin_world.generate import generate_dataset
from relevance_distill.config import DataGenerationConfig, TrainJobConfig
from relevance_distill.data.readers import read_models
from relevance_distill.schemas import QueryServicePair, get_label_scheme
from relevance_distill.teacher.profiles import step_config_with
from relevance_distill.teacher.trainjob import (
    COMPLETE,
    FAILED,
    TrainJobError,
    job_name,
    run_step_on_nodes,
    trainjob_manifest,
    validate_trainjob,
    wait_for_trainjob,
)

SCHEME = get_label_scheme("local_services")
# A copy of the Trainer's CRD, where the shared folder has one (the full schema, beside the one restated here).
SHARED_CRD = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "trainer" / "trainer.kubeflow.org_trainjobs.yaml"


class TrainerModel:
    """A TrainJob's lifecycle as the Trainer drives it: created without conditions, then Complete or Failed when
    its trainer command ends (Failed with reason DeadlineExceeded when it outlives activeDeadlineSeconds)."""

    def __init__(self, secrets: dict[str, dict[str, str]], run_command: bool = True, hang: bool = False,
                 node_environment: dict[str, str] | None = None):
        self.secrets, self.run_command, self.hang = secrets, run_command, hang
        self.node_environment = node_environment or {}
        self.jobs: dict[str, dict] = {}
        self.logs: dict[str, str] = {}
        self.calls: list[str] = []

    def create(self, namespace, body):
        self.calls.append("create")
        validate_trainjob(body)
        name = body["metadata"]["name"]
        self.jobs[name] = {**body, "status": {}}
        if self.run_command and not self.hang:
            self._run(name, body["spec"]["trainer"])
        return self.jobs[name]

    def _run(self, name, trainer):
        env = {**os.environ, "PET_NNODES": "1", "PET_NPROC_PER_NODE": str(trainer["numProcPerNode"]),
               "PET_NODE_RANK": "0", "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": "29517"}
        for item in trainer["env"]:
            if "value" in item:
                env[item["name"]] = item["value"]
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[ref["name"]][ref["key"]]
        env.update(self.node_environment)
        command = [sys.executable, "-m", "torch.distributed.run" if trainer["command"][0] == "torchrun" else trainer["command"][0],
                   *trainer["command"][1:], *trainer["args"]]
        process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        self.logs[name] = (process.stdout + process.stderr)[-4000:]
        kind, reason = (COMPLETE, "JobSetCompleted") if process.returncode == 0 else (FAILED, "FailedJobs")
        self.jobs[name]["status"] = {"conditions": [{"type": kind, "status": "True", "reason": reason,
                                                     "message": f"trainer exited with {process.returncode}"}]}

    def get(self, namespace, name):
        self.calls.append("get")
        return self.jobs[name]

    def delete(self, namespace, name):
        self.calls.append("delete")
        self.jobs.pop(name)

    def node_log(self, namespace, name, lines):
        return "\n".join(self.logs.get(name, "").splitlines()[-lines:])


def test_the_manifest_passes_the_trainjob_schema_and_a_bad_one_is_refused_by_field():
    config = TrainJobConfig(num_nodes=4, gpus_per_node=8, namespace="team-a", s3_endpoint_url="http://minio:9000")
    manifest = trainjob_manifest(job_name("sft", "s3://bucket/runs/r1/teacher/sft"), "registry/trainer:0.2.0",
                                 "s3://bucket/req.pkl", "s3://bucket/res.pkl", config)
    validate_trainjob(manifest)
    trainer = manifest["spec"]["trainer"]
    assert trainer["numNodes"] == 4 and trainer["numProcPerNode"] == 8
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == 8
    assert trainer["command"] == ["torchrun", "-m", "relevance_distill.teacher.worker"]
    assert manifest["spec"]["runtimeRef"] == {"name": "torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                              "kind": "ClusterTrainingRuntime"}
    secrets = [item for item in trainer["env"] if "valueFrom" in item]  # credentials by reference, never values
    assert {item["valueFrom"]["secretKeyRef"]["name"] for item in secrets} == {"relevance-distill-s3"}
    assert len(manifest["metadata"]["name"]) <= 63
    for broken, field in (({**manifest, "metadata": {"name": "Teacher_SFT"}}, "metadata/name"),
                          ({**manifest, "spec": {**manifest["spec"], "trainer": {**trainer, "numNodes": 0}}},
                           "spec/trainer/numNodes"),
                          ({**manifest, "spec": {**manifest["spec"], "trainer": {**trainer, "nodes": 2}}}, "spec/trainer")):
        with pytest.raises(TrainJobError, match=f"TrainJob field {field}"):
            validate_trainjob(broken)


def test_the_manifest_passes_the_full_crd_schema_where_the_shared_folder_has_it():
    if not SHARED_CRD.is_file():
        pytest.skip(f"{SHARED_CRD} is absent: the restated schema above is what is checked")
    import jsonschema

    crd = yaml.safe_load(SHARED_CRD.read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]
    jsonschema.validate(trainjob_manifest("relevance-distill-sft-0", "trainer:1", "s3://b/q", "s3://b/r",
                                          TrainJobConfig()), schema)


def test_a_step_on_nodes_submits_a_trainjob_waits_for_it_and_reads_its_result(s3_bucket, tmp_path, capsys):
    generate_dataset(DataGenerationConfig(num_services=120, num_queries=60, num_log_pairs=0, corpus_documents=200, seed=6),
                     tmp_path / "data")
    storage.upload_file(tmp_path / "data" / "corpus.jsonl", f"{s3_bucket}/corpus.jsonl")
    train = read_models(str(tmp_path / "data" / "labeled.jsonl"), QueryServicePair)
    # This machine's "node" has no GPU: its workers train on the CPU with gloo, so the GPU count the manifest gives
    # them (which makes a real node's workers fail without GPUs, tests/unit/test_devices.py) is cleared here.
    cluster = TrainerModel(secrets={"relevance-distill-s3": {"AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                                                             "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}},
                           node_environment={"RELEVANCE_DISTILL_GPUS": "0"})
    config = TrainJobConfig(gpus_per_node=2, namespace="team-a", s3_endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                            poll_seconds=0.01)
    cpt = step_config_with("smoke", "cpt", {"max_steps": 4})
    result = run_step_on_nodes("cpt", (cpt, f"{s3_bucket}/corpus.jsonl", f"{s3_bucket}/teacher/cpt", SCHEME, train), {},
                               f"{s3_bucket}/teacher/cpt/trainjob", "relevance-distill/trainer:0.1.0", config, cluster)
    assert result["model_uri"] == f"{s3_bucket}/teacher/cpt/model" and result["metrics"]["world_size"] == 2
    assert "model.safetensors" in storage.read_manifest(result["model_uri"]).files
    assert cluster.calls[:2] == ["create", "get"] and "delete" not in cluster.calls
    out = capsys.readouterr().out
    assert "TrainJob team-a/relevance-distill-cpt-" in out and "Complete=True" in out and "last 50 lines of node 0" in out


def test_a_failed_trainjob_fails_the_step_with_its_reason_and_a_hung_one_is_deleted_at_its_timeout(s3_bucket):
    cluster = TrainerModel(secrets={"relevance-distill-s3": {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}})
    config = TrainJobConfig(s3_endpoint_url=os.environ["AWS_ENDPOINT_URL"], poll_seconds=0.01, gpus_per_node=1)
    # A request no worker can read: the command exits non-zero and the job fails.
    with pytest.raises(TrainJobError, match=r"failed \(FailedJobs\): trainer exited with 1"):
        run_step_on_nodes("cpt", (None,), {}, f"{s3_bucket}/broken", "trainer:1", config, cluster)
    hung = TrainerModel(secrets={}, hang=True)
    ticks = iter(range(10_000))
    hung.create("ns", trainjob_manifest("relevance-distill-sft-1", "trainer:1", "s3://b/q", "s3://b/r", config))
    with pytest.raises(TrainJobError, match="did not finish within 30 s; it was deleted"):
        wait_for_trainjob(hung, "ns", "relevance-distill-sft-1", timeout_seconds=30, poll_seconds=10,
                          clock=lambda: float(next(ticks)), sleep=lambda seconds: None)
    assert hung.calls[-1] == "delete" and not hung.jobs
    with pytest.raises(TrainJobError, match="s3://"):
        run_step_on_nodes("cpt", (), {}, "/local/work", "trainer:1", config, hung)


def test_the_production_cluster_config_takes_a_trainjob_and_the_pipeline_passes_it_to_every_teacher_step(tmp_path):
    from kfp import compiler

    from pipelines.distillation import build_distillation_pipeline
    from relevance_distill.config import cluster_config

    cluster = cluster_config("production").model_copy(update={"teacher_trainjob": TrainJobConfig(num_nodes=4)})
    path = tmp_path / "multi-node.yaml"
    compiler.Compiler().compile(build_distillation_pipeline(cluster), str(path))
    spec = next(yaml.safe_load_all(path.read_text()))
    tasks = {name: task for component in spec["components"].values() if "dag" in component
             for name, task in component["dag"]["tasks"].items()}
    for step in ("teacher-cpt", "teacher-sft", "reward-model", "teacher-preference"):
        parameters = tasks[step]["inputs"]["parameters"]
        assert json.loads(parameters["trainjob_json"]["runtimeValue"]["constant"])["num_nodes"] == 4, step
        assert parameters["trainer_image"]["runtimeValue"]["constant"].endswith("/trainer:0.1.0-cuda"), step
