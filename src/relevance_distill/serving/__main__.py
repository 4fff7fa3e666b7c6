"""Entry point: ``python -m relevance_distill.serving --model_name relevance --model_uri /mnt/models``.

Inherits KServe's model-server argument parser (ports, workers, logging …) and adds ours.
"""

from __future__ import annotations

import argparse

import kserve
from kserve import model_server

from relevance_distill.serving.predictor import RelevancePredictor, ServingLimits

parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__)
parser.add_argument("--model_uri", default="/mnt/models",
                    help="Exported model: /mnt/models (KServe storage initializer), an s3:// prefix, or a directory.")
parser.add_argument("--backend", default="torch", choices=["torch", "onnx"], help="Inference backend.")
parser.add_argument("--num_threads", default=None, type=int, help="CPU threads for inference (default: runtime's).")
parser.add_argument("--max_batch_size", default=256, type=int, help="Largest accepted batch; larger requests get 400.")
parser.add_argument("--max_text_chars", default=20_000, type=int, help="Longest accepted text; longer gets 400.")


def main(argv: list[str] | None = None) -> None:
    args, _ = parser.parse_known_args(argv)
    model = RelevancePredictor(args.model_name, args.model_uri, args.backend, args.num_threads,
                               ServingLimits(args.max_batch_size, args.max_text_chars))
    model.load()
    kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers,
                       enable_grpc=args.enable_grpc).start([model])


if __name__ == "__main__":
    main()
