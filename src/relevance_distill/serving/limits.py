"""How much a request may carry, enforced before anything large is parsed (the body's bytes at the HTTP layer and
the gRPC message length, then the size of each service object before it is validated), and how it is batched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kserve.errors import InvalidInput


@dataclass(frozen=True)
class ServingLimits:
    max_batch_size: int = 256
    max_text_chars: int = 20_000
    #: Largest request body (HTTP) or message (gRPC); a batch of max_batch_size pairs of long texts fits.
    max_request_bytes: int = 16 * 1024 * 1024
    #: Most strings, numbers and containers one service object may hold (attributes, tags, …).
    max_service_items: int = 512
    #: Pairs scored in one forward pass; a larger request is sorted by length and scored in such sub-batches, so
    #: short pairs are not padded to the longest one of the whole request. 25 (two sub-batches for 1 × 50):
    #: benchmarks/serving.py on 2 cores measured openvino_bf16 at 148 ms with 25 vs 172 ms with 64, and
    #: openvino_int8 within its run-to-run noise for 25, 32 and 64 (103-111 ms; 16 was slower, 119 ms).
    sub_batch_size: int = 25


class RequestSizeLimit:
    """ASGI middleware: a body over MAX_BYTES gets 413 before the server reads it into JSON. A declared
    Content-Length is refused at once; a streamed body is counted as it arrives."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        received = 0

        async def counted_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, self._message(received))
            return message

        await self.app(scope, counted_receive, send)

    def _message(self, size: int) -> str:
        return (f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes "
                "(--max_request_bytes); split the batch")

    async def _refuse(self, send: Any, size: int) -> None:
        body = json.dumps({"error": self._message(size)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def install_request_size_limit(max_bytes: int) -> None:
    """Add RequestSizeLimit to KServe's FastAPI application (before the server starts it) and cap gRPC messages."""
    from kserve import model_server

    model_server.app.add_middleware(RequestSizeLimit, max_bytes=max_bytes)
    model_server.args.grpc_max_receive_message_length = min(model_server.args.grpc_max_receive_message_length,
                                                            max_bytes)


def check_raw_service(service: Any, field: str, limits: ServingLimits) -> None:
    """Refuse an oversized service object before it is validated: at most ``max_service_items`` values and
    ``max_text_chars`` characters of text in all, nesting included (walked iteratively, so depth cannot overflow)."""
    items, chars, pending = 0, 0, [service]
    while pending:
        value = pending.pop()
        items += 1
        if items > limits.max_service_items:
            raise InvalidInput(f"{field} holds more than {limits.max_service_items} values")
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, dict):
            chars += sum(len(key) for key in value if isinstance(key, str))
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        if chars > limits.max_text_chars:
            raise InvalidInput(f"{field} holds more than {limits.max_text_chars} characters of text")
