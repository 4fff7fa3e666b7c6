"""`relevance-distill serve`: the KServe model server with our predictor."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from relevance_distill.cli.common import app, fail
from relevance_distill.serving.backends import AUTO, BACKENDS, BackendUnavailable


@app.command("serve")
def serve_command(
    model: Annotated[str, typer.Option(help="Exported model: s3:// prefix or directory (with manifest.json).")],
    port: Annotated[int, typer.Option(help="HTTP port (loopback and cluster alike).")] = 8080,
    name: Annotated[str, typer.Option(help="Model name in the URL: /v1/models/NAME:predict, /v2/models/NAME/infer.")] = "relevance",
    backend: Annotated[str, typer.Option(
        help=f"{AUTO} (the fastest backend the export published, timed at load) or one of: {', '.join(BACKENDS)}.")] = AUTO,
    num_threads: Annotated[Optional[int], typer.Option(help="CPU threads for inference (default: the container's CPUs).")] = None,
    max_batch_size: Annotated[Optional[int], typer.Option(help="Largest accepted batch (default: ServingLimits).")] = None,
    grpc_port: Annotated[int, typer.Option(help="gRPC port (Open Inference Protocol over gRPC).")] = 8081,
) -> None:
    """Serve the student with the KServe model server (V1 and Open Inference Protocol V2, HTTP and gRPC)."""
    from relevance_distill.serving.__main__ import main as serve_main

    if backend not in (AUTO, *BACKENDS):
        fail(f"unknown --backend {backend!r}; allowed: {[AUTO, *BACKENDS]}")
    argv = ["--model_uri", model, "--http_port", str(port), "--grpc_port", str(grpc_port), "--model_name", name,
            "--backend", backend]
    if max_batch_size:
        argv += ["--max_batch_size", str(max_batch_size)]
    if num_threads:
        argv += ["--num_threads", str(num_threads)]
    try:
        serve_main(argv)
    except (BackendUnavailable, ValueError, FileNotFoundError) as error:  # what load() refuses, said without a traceback
        fail(str(error))


