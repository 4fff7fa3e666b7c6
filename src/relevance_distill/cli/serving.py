"""`relevance-distill serve`: the KServe model server with our predictor."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from relevance_distill.cli.common import app, fail


@app.command("serve")
def serve_command(
    model: Annotated[str, typer.Option(help="Exported model: s3:// prefix or directory (with manifest.json).")],
    port: Annotated[int, typer.Option(help="HTTP port (loopback and cluster alike).")] = 8080,
    name: Annotated[str, typer.Option(help="Model name in the URL: /v1/models/NAME:predict, /v2/models/NAME/infer.")] = "relevance",
    backend: Annotated[str, typer.Option(help="torch or onnx (needs an export made with --onnx).")] = "torch",
    num_threads: Annotated[Optional[int], typer.Option(help="CPU threads for inference.")] = None,
    max_batch_size: Annotated[int, typer.Option(help="Largest accepted batch.")] = 256,
    grpc_port: Annotated[int, typer.Option(help="gRPC port (Open Inference Protocol over gRPC).")] = 8081,
) -> None:
    """Serve the student with the KServe model server (V1 and Open Inference Protocol V2)."""
    from relevance_distill.serving.__main__ import main as serve_main

    if backend not in {"torch", "onnx"}:
        fail(f"unknown --backend {backend!r}; allowed: ['onnx', 'torch']")
    argv = ["--model_uri", model, "--http_port", str(port), "--grpc_port", str(grpc_port), "--model_name", name,
            "--backend", backend, "--max_batch_size", str(max_batch_size)]
    if num_threads:
        argv += ["--num_threads", str(num_threads)]
    serve_main(argv)


