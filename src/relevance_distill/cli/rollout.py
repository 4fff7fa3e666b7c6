"""`relevance-distill rollout canary | promote | rollback`: the rollout verbs by hand, on a cluster or as a dry run
that prints the exact requests (one JSON object per line) and sends nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from relevance_distill.cli.common import app, fail

rollout_app = typer.Typer(help="Canary, promote or roll back the student's InferenceService (JSON Patch requests).",
                          no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")

LiveOption = Annotated[Optional[Path], typer.Option(
    "--live", help="The live InferenceService as `kubectl get isvc NAME -o yaml` prints it; without it the object is "
                   "read from the cluster (kube config, or the pod's ServiceAccount). Without --dry-run the patch "
                   "built from the file is sent, and the server refuses it if the live object differs.")]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Print the request(s) as JSON lines ({method, path, content_type, body}) and send nothing.")]
NamespaceOption = Annotated[Optional[str], typer.Option(help="Namespace (default: InferenceServiceConfig.namespace).")]
NameOption = Annotated[Optional[str], typer.Option(help="InferenceService name (default: InferenceServiceConfig.name).")]


def _act(build: Callable[[dict[str, Any]], Any], live_file: Path | None, dry_run: bool, namespace: str | None,
         name: str | None) -> None:
    import yaml

    from relevance_distill.config import config_from_arguments
    from relevance_distill.rollout.isvc import InferenceServiceConfig
    from relevance_distill.rollout.patches import RolloutStateError

    config = config_from_arguments(InferenceServiceConfig, namespace=namespace, name=name)
    try:
        if live_file is not None:
            if not live_file.is_file():
                fail(f"--live {live_file} does not exist")
            live = yaml.safe_load(live_file.read_text(encoding="utf-8"))
            if not isinstance(live, dict) or live.get("kind") != "InferenceService":
                fail(f"--live {live_file} is not an InferenceService")
            request = build(live)
            if dry_run:
                print(request.to_json())
                return
            from relevance_distill.rollout.cluster import ClusterClient

            # The patch guards what the file shows: the server refuses it if the live object differs.
            result = ClusterClient().patch(request)
        else:
            from relevance_distill.rollout.cluster import ClusterClient, run_verb

            client = ClusterClient()
            if dry_run:
                print(build(client.get_inference_service(config.namespace, config.name)).to_json())
                return
            request, result = run_verb(client, config.namespace, config.name, build)
    except (RolloutStateError, ValueError) as error:
        fail(str(error))
    print(request.to_json())
    predictor = result["spec"]["predictor"]
    print(f"applied: storageUri={predictor['model']['storageUri']} "
          f"canaryTrafficPercent={predictor.get('canaryTrafficPercent', 'none (100 % to this model)')}")


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
) -> None:
    """Roll MODEL_URI out as a canary next to the serving model."""
    from relevance_distill.config import field_default
    from relevance_distill.rollout.isvc import InferenceServiceConfig
    from relevance_distill.rollout.patches import canary_request

    share = percent if percent is not None else field_default(InferenceServiceConfig, "canary_traffic_percent")
    version = model_version or model_uri.rstrip("/").rsplit("/", 1)[-1]
    _act(lambda current: canary_request(current, model_uri, version, share), live, dry_run, namespace, name)


@rollout_app.command("promote")
def promote_command(live: LiveOption = None, dry_run: DryRunOption = False, namespace: NamespaceOption = None,
                    name: NameOption = None) -> None:
    """Give the running canary all traffic and remove every canary field."""
    from relevance_distill.rollout.patches import promote_request

    _act(promote_request, live, dry_run, namespace, name)


@rollout_app.command("rollback")
def rollback_command(live: LiveOption = None, dry_run: DryRunOption = False, namespace: NamespaceOption = None,
                     name: NameOption = None) -> None:
    """Serve the model the canary replaced at 100 % again and remove the canary."""
    from relevance_distill.rollout.patches import rollback_request

    _act(rollback_request, live, dry_run, namespace, name)
