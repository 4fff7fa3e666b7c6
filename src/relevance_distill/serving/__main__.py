"""Entry point: ``python -m relevance_distill.serving --model_name relevance --model_uri /mnt/models``.

Inherits KServe's model-server argument parser (ports, workers, logging …) and adds ours. Unknown, misspelt or
abbreviated flags are errors: a typo must not leave a limit at its default unnoticed.
"""

from __future__ import annotations

import argparse

import kserve
from kserve import model_server

from relevance_distill.serving.backends import AUTO, BACKENDS
from relevance_distill.serving.limits import ServingLimits, install_request_size_limit
from relevance_distill.serving.predictor import RelevancePredictor

DEFAULT_LIMITS = ServingLimits()
parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__, allow_abbrev=False)
parser.add_argument("--model_uri", default="/mnt/models",
                    help="Exported model: /mnt/models (KServe storage initializer), an s3:// prefix, or a directory.")
parser.add_argument("--backend", default=AUTO, choices=[AUTO, *BACKENDS],
                    help="Inference backend; auto = the fastest of those the export published, timed at load.")
parser.add_argument("--num_threads", default=None, type=int,
                    help="CPU threads for inference (default: the container's CPU limit).")
parser.add_argument("--max_batch_size", default=DEFAULT_LIMITS.max_batch_size, type=int,
                    help="Largest accepted batch; larger requests get 400.")
parser.add_argument("--max_text_chars", default=DEFAULT_LIMITS.max_text_chars, type=int,
                    help="Longest accepted text (and most text in one service object); longer gets 400.")
parser.add_argument("--max_request_bytes", default=DEFAULT_LIMITS.max_request_bytes, type=int,
                    help="Largest request body (HTTP, 413 beyond) and gRPC message.")
parser.add_argument("--sub_batch_size", default=DEFAULT_LIMITS.sub_batch_size, type=int,
                    help="Pairs per forward pass; larger requests are scored in length-sorted sub-batches.")


def main(argv: list[str] | None = None) -> None:
    args = parser.parse_args(argv)
    limits = ServingLimits(max_batch_size=args.max_batch_size, max_text_chars=args.max_text_chars,
                           max_request_bytes=args.max_request_bytes, sub_batch_size=args.sub_batch_size)
    model = RelevancePredictor(args.model_name, args.model_uri, args.backend, args.num_threads, limits)
    model.load()
    install_request_size_limit(limits.max_request_bytes)
    kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers,
                       enable_grpc=args.enable_grpc).start([model])


if __name__ == "__main__":
    main()
