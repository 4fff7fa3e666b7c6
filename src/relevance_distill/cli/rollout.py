"""`relevance-distill rollout canary | promote | rollback`: the rollout verbs by hand, on a cluster or as a dry run
that prints the exact requests (one JSON object per line) and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from relevance_distill.cli.common import app, fail

rollout_app = typer.Typer(help="Canary, promote or roll back the student's InferenceService (JSON Patch requests).",
                          no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")

LiveOption = Annotated[Optional[Path], typer.Option(
    "--live", help="With --dry-run: the InferenceService as `kubectl get isvc NAME -o yaml` prints it, instead of "
                   "reading it from the cluster (kube config, or the pod's ServiceAccount).")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print the requests as JSON lines ({step, method, path, content_type, body}) and send nothing.")]
NamespaceOption = Annotated[Optional[str], typer.Option(help="Namespace (default: InferenceServiceConfig.namespace).")]
NameOption = Annotated[Optional[str], typer.Option(help="InferenceService name (default: InferenceServiceConfig.name).")]


TimeoutOption = Annotated[Optional[float], typer.Option(
    "--timeout", help="Seconds each step waits for the InferenceService to show the expected revision and traffic "
                      "(default: InferenceServiceConfig.rollout_timeout_seconds).")]


def _act(plan_for: Callable[[dict[str, Any]], list[Any]], live_file: Path | None, dry_run: bool,
         namespace: str | None, name: str | None, timeout: float | None) -> None:
    """Build the verb's steps from the live object. A dry run prints every step's request (each built from the
    object the previous one leaves); otherwise each step is sent and waited for before the next."""
    import yaml

    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.isvc import InferenceServiceConfig
    from relevance_distill.rollout.patches import RolloutStateError, run_locally

    config = config_from_arguments(InferenceServiceConfig, namespace=namespace, name=name,
                                   rollout_timeout_seconds=timeout)
    from relevance_distill.rollout.cluster import (
        ClusterClient,
        RolloutTimeout,
        run_plan,
    )

    try:
        if live_file is not None:
            if not dry_run:
                fail("--live is for --dry-run only: a rollout reads the live object before every step")
            if not live_file.is_file():
                fail(f"--live {live_file} does not exist")
            live = yaml.safe_load(live_file.read_text(encoding="utf-8"))
            if not isinstance(live, dict) or live.get("kind") != "InferenceService":
                fail(f"--live {live_file} is not an InferenceService")
        else:
            client = ClusterClient()
            live = client.get_inference_service(config.namespace, config.name)
        plan = plan_for(live)
        if dry_run:
            for step in run_locally(live, plan)[0]:
                print(json.dumps(step.to_dict(), separators=(",", ":")))
            return
        steps, result = run_plan(client, config.namespace, config.name, plan, config.rollout_timeout_seconds)
    except (RolloutStateError, ValueError) as error:
        fail(str(error))
    except RolloutTimeout as error:
        fail(f"{error}. Nothing further was sent; the InferenceService is as the last completed step left it, and "
             "running the same command again goes on from there.")
    from relevance_distill.rollout.status import describe, traffic

    print(f"applied: {', '.join(step.name for step in steps)}; storageUri={result['spec']['predictor']['model']['storageUri']}; "
          f"traffic: {describe(traffic(result))}")


@rollout_app.command("canary")
def canary_command(
    model_uri: Annotated[str, typer.Option(help="The exported student to roll out (s3://…/models/NAME/VERSION).")],
    live: LiveOption = None,
    percent: Annotated[Optional[int], typer.Option(
        help="Traffic share of the canary (default: InferenceServiceConfig.canary_traffic_percent).")] = None,
    model_version: Annotated[Optional[str], typer.Option(help="Version label (default: the URI's last segment).")] = None,
    dry_run: DryRunOption = False,
    namespace: NamespaceOption = None,
    name: NameOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Roll MODEL_URI out as a canary next to the serving model."""
    from relevance_distill.config import field_default
    from relevance_distill.rollout.isvc import InferenceServiceConfig
    from relevance_distill.rollout.patches import canary_plan

    share = percent if percent is not None else field_default(InferenceServiceConfig, "canary_traffic_percent")
    version = model_version or model_uri.rstrip("/").rsplit("/", 1)[-1]
    _act(lambda current: canary_plan(current, model_uri, version, share), live, dry_run, namespace, name, timeout)


@rollout_app.command("promote")
def promote_command(live: LiveOption = None, dry_run: DryRunOption = False, namespace: NamespaceOption = None,
                    name: NameOption = None, timeout: TimeoutOption = None) -> None:
    """Give the running canary all traffic and remove every canary field."""
    from relevance_distill.rollout.patches import promote_plan

    _act(promote_plan, live, dry_run, namespace, name, timeout)


@rollout_app.command("rollback")
def rollback_command(live: LiveOption = None, dry_run: DryRunOption = False, namespace: NamespaceOption = None,
                     name: NameOption = None, timeout: TimeoutOption = None) -> None:
    """Send all traffic back to the model the canary replaced at once (canaryTrafficPercent 0), restore it in the
    spec, and remove the canary once the restored revision is Ready. A rollback that stopped resumes."""
    from relevance_distill.rollout.patches import rollback_plan

    _act(rollback_plan, live, dry_run, namespace, name, timeout)
