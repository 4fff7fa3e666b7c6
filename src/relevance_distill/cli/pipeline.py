"""`relevance-distill run | compile | submit`: the main job and the Kubeflow pipelines (the only commands that
load kfp, lazily)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from relevance_distill import storage
from relevance_distill.cli.common import app, fail
from relevance_distill.config import ConfigError, RunConfig, load_config, parse_config
from relevance_distill.progress import INTERVAL_ENVIRONMENT
from relevance_distill.runlog import TERMINAL_INTERVAL_SECONDS, RunConsole


@contextlib.contextmanager
def _s3_environment(endpoint: str | None, workdir: Path) -> Iterator[str]:
    """Point boto3 at ``endpoint``, or start the embedded S3 server for the duration of the run."""
    saved = dict(os.environ)
    server = None
    try:
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        else:
            server = storage.EmbeddedS3(log_path=workdir / "embedded-s3.log").start()
            os.environ.update(server.env())
        yield os.environ["AWS_ENDPOINT_URL"]
    finally:
        if server:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)


@app.command("run")
def run(
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML RunConfig; flags below win.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="Run profile: smoke (tiny, fast) or demo (default).")] = None,
    workdir: Annotated[Path, typer.Option(help="Where the run keeps local files and summary.json.")] = Path("runs/demo"),
    s3_endpoint: Annotated[Optional[str], typer.Option(help="Use this S3 endpoint instead of the embedded server.")] = None,
    teacher_model_uri: Annotated[Optional[str], typer.Option(
        help="Reuse a published teacher (e.g. WORKDIR/teacher of an earlier run): skips CPT, SFT, reward model and DPO.")] = None,
    runner: Annotated[Optional[str], typer.Option(
        help="subprocess (default: every component in this environment) or docker (each component in its image; "
             "`make images` first).")] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Also print everything the tasks print (always kept in WORKDIR/logs/).")] = False,
    labeled: Annotated[Optional[str], typer.Option(
        help="Your labelled pairs (path or s3://); without it the run uses the built-in data.")] = None,
    data_format: Annotated[Optional[str], typer.Option(
        "--format", help="Format of --labeled and --test: jsonl (default), crowdflower, esci, qbqtc.")] = None,
    products: Annotated[Optional[str], typer.Option(help="Product texts for --format esci.")] = None,
    label_scheme: Annotated[Optional[str], typer.Option(
        help="Label scheme of the labelled data (default: the format's own).")] = None,
    unlabeled: Annotated[Optional[str], typer.Option(
        help="Search-log pairs (JSONL) for the teacher to annotate (default: it annotates the training pairs).")] = None,
    corpus: Annotated[Optional[str], typer.Option(
        help="Pre-training text, JSONL {\"text\": …} (default: the text of the pairs).")] = None,
    test: Annotated[Optional[str], typer.Option(
        help="A fixed test set in the --format of --labeled, used only for the final evaluation.")] = None,
    split_strategy: Annotated[Optional[str], typer.Option(
        help="query (default: no query in two splits) or random (pairs split freely).")] = None,
    student_init: Annotated[Optional[str], typer.Option(
        help="The encoder the students start from: a Hugging Face directory or an s3:// prefix holding one (e.g. a "
             "Chinese BERT in your bucket); default: the packaged MiniLM.")] = None,
) -> None:
    """The main job: the distillation and A/B pipelines under kfp.local, artifacts in (embedded) S3; on the built-in
    data, or on yours (--labeled …)."""
    from pipelines.local import run_local
    from relevance_distill.reporting import run_summary_table

    overrides: dict = {"profile": profile} if profile else {}
    if teacher_model_uri:
        overrides["teacher"] = {"model_uri": teacher_model_uri}
    if runner:
        overrides["runner"] = runner
    inputs = {key: value for key, value in (("labeled_uri", labeled), ("products_uri", products), ("unlabeled_uri", unlabeled),
                                             ("corpus_uri", corpus), ("test_uri", test)) if value}
    if inputs:
        overrides["inputs"] = inputs
    prepare = {key: value for key, value in (("input_format", data_format), ("label_scheme", label_scheme),
                                              ("split_strategy", split_strategy)) if value}
    if prepare:
        overrides["prepare"] = prepare
    if student_init:
        overrides["student"] = {"init": student_init}
    try:
        config = load_config(RunConfig, config_file, overrides) if config_file else parse_config(RunConfig, overrides)
    except ConfigError as error:
        fail(str(error))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    run_console = RunConsole(workdir / "logs" / run_id, verbose=verbose)
    if run_console.terminal:
        # The tasks' progress lines drive the bars here: frequent enough to move smoothly (they only fill the logs).
        os.environ.setdefault(INTERVAL_ENVIRONMENT, str(TERMINAL_INTERVAL_SECONDS))
    try:
        with _s3_environment(s3_endpoint or config.storage.endpoint_url, workdir) as endpoint:
            run_console.say(f"relevance-distill run {run_id}: profile={config.profile} runner={config.runner} "
                            f"S3 endpoint={endpoint}")
            run_console.say(f"logs: {run_console.log_dir}")
            with run_console.capture():
                summary = run_local(config, workdir, run_id, say=run_console.say)
    except Exception as error:  # the report names the task, its log and the fix; the traceback is in the log
        run_console.failure_log(error)
        for line in run_console.failure_report(error):
            print(line, file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        run_console.close()
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    summary["logs"] = str(run_console.log_dir)
    summary["tasks"] = run_console.task_summary()
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    Console().print(run_summary_table(summary))
    print(f"summary: {workdir / 'summary.json'}")
    if summary["model_uri"]:
        print(f"serve it: relevance-distill serve --model {workdir / 'model'}")


@app.command("compile")
def compile_command(
    out: Annotated[Path, typer.Option(help="Directory for distillation_pipeline.yaml and ab_analysis_pipeline.yaml.")] = Path("pipelines/compiled"),
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML KubernetesConfig (Secret names, GPUs, "
                                                                        "resources per step).")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="A cluster profile (production: GPUs, memory and volumes for a "
                                                        "7B teacher) compiled as distillation_pipeline.PROFILE.yaml "
                                                        "beside the CPU pipelines.")] = None,
) -> None:
    """Compile both pipelines (and every component's component.yaml) for Kubeflow Pipelines."""
    from pipelines.compile import compile_all, compile_cluster_profile
    from relevance_distill.config import CLUSTER_PROFILES, KubernetesConfig

    try:
        config = load_config(KubernetesConfig, config_file) if config_file else KubernetesConfig()
        if cluster is not None and cluster not in CLUSTER_PROFILES:
            raise ConfigError(f"unknown cluster profile {cluster!r}; allowed: {sorted(CLUSTER_PROFILES)}")
        paths = compile_all(out, config)
        if cluster and cluster != "cpu":
            paths.append(compile_cluster_profile(out, cluster))
    except (ConfigError, ValueError) as error:
        fail(str(error))
    for path in paths:
        print(f"wrote {path}")


@app.command("submit")
def submit_command(
    host: Annotated[str, typer.Option(help="KFP API endpoint, e.g. https://kubeflow.example.com/pipeline.")],
    pipeline: Annotated[Path, typer.Option(help="Compiled pipeline YAML.")] = Path("pipelines/compiled/distillation_pipeline.yaml"),
    params: Annotated[str, typer.Option(help="Pipeline arguments as JSON.")] = "{}",
    experiment: Annotated[str, typer.Option(help="KFP experiment name.")] = "relevance-distill",
    namespace: Annotated[Optional[str], typer.Option(help="Kubeflow profile namespace (multi-user installs).")] = None,
    service_account: Annotated[Optional[str], typer.Option(
        help="ServiceAccount every step of the run uses (default: KubernetesConfig.service_account, the one "
             "manifests/rbac binds to the pipeline's Role).")] = None,
) -> None:
    """Submit a compiled pipeline to a KFP endpoint (auth from the environment, as kfp.Client reads it)."""
    import kfp

    from relevance_distill.config import KubernetesConfig, field_default

    account = service_account or field_default(KubernetesConfig, "service_account")
    try:
        arguments = json.loads(params)
    except json.JSONDecodeError as error:
        fail(f"--params is not JSON ({error}): {params!r}")
    from relevance_distill.pipeline_parameters import submit_problem

    problem = submit_problem(pipeline.read_text(encoding="utf-8"), arguments)
    if problem:
        fail(problem)
    client = kfp.Client(host=host, namespace=namespace)
    run = client.create_run_from_pipeline_package(str(pipeline), arguments=arguments, experiment_name=experiment,
                                                  namespace=namespace, service_account=account)
    print(f"submitted run {run.run_id} as ServiceAccount {account}")


if __name__ == "__main__":
    app()
