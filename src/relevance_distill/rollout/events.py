"""The event sink: KServe's request logger sends every request and response of the InferenceService as a CloudEvent
(``spec.predictor.logger``); this small HTTP receiver turns each into one JSON line and writes them to S3 in part
files, which ``abtest analyze --canary-version`` reads back (joined with the user's outcomes by request id).

What the logger sends is KServe's (``pkg/logger/worker.go``): binary-mode CloudEvents whose ``id`` is the request id
(the same for a request and its response), ``type`` ``org.kubeflow.serving.inference.request`` or ``…response``,
extensions ``inferenceservicename``, ``namespace``, ``component``, ``endpoint`` and ``metadata`` (a JSON object of the
headers named in ``logger.metadataHeaders``, each a list of values), and the body as data. Structured mode is
accepted too. An event that is not a CloudEvent, or not one of those two types, is refused with 400 and nothing is
written; one larger than ``max_event_bytes`` with 413; when ``max_buffered_events`` wait unwritten, with 503.

A line: ``id``, ``kind`` (request | response), ``time``, ``inferenceservice``, ``namespace``, ``component``,
``endpoint``, ``unit`` (the ``X-Relevance-Unit`` header), ``items`` (pairs in a request), ``model_version`` and
``scores`` (a V2 response's first output). Lines are buffered and written as
``EVENTS_URI/part-<start>-<pid>-<n>.jsonl`` every ``flush_events`` lines or ``flush_seconds``, and on shutdown: each
part is one PUT (atomic on S3), so a reader sees whole parts only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from pydantic import Field

from relevance_distill.rollout.isvc import UNIT_HEADER
from relevance_distill.schemas import StrictModel

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
KINDS = {REQUEST_TYPE: "request", RESPONSE_TYPE: "response"}


class EventSinkConfig(StrictModel):
    """Where and how the event sink writes."""

    events_uri: str = Field(description="Prefix the part files go to (s3://bucket/prefix or a directory).")
    flush_events: int = Field(default=1000, ge=1, description="Write a part file once this many lines wait.")
    flush_seconds: float = Field(default=10.0, gt=0, description="... or once the oldest waiting line is this old.")
    max_buffered_events: int = Field(default=100_000, ge=1, description="Above this many unwritten lines, refuse (503).")
    max_event_bytes: int = Field(default=4_000_000, ge=1, description="Refuse larger events (413).")


class EventError(ValueError):
    """The request is not an event the sink accepts (HTTP 400)."""


def _json(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")
    if isinstance(data, str):
        return json.loads(data) if data.strip() else None
    return data


def _unit(metadata: Any) -> str | None:
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            return None
    if not isinstance(metadata, dict):
        return None
    for key, values in metadata.items():
        if key.lower() == UNIT_HEADER.lower():
            value = values[0] if isinstance(values, list) and values else values
            return str(value) if value else None
    return None


def event_row(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """One CloudEvent (binary or structured HTTP mode) as the line the sink writes; EventError when it is not one."""
    from cloudevents.exceptions import GenericException
    from cloudevents.http import from_http

    try:
        event = from_http(headers, body)
    except (GenericException, ValueError, TypeError) as error:
        raise EventError(f"not a CloudEvent: {error}") from None
    kind = KINDS.get(event["type"])
    if kind is None:
        raise EventError(f"event type {event['type']!r} is not one of {sorted(KINDS)}")
    try:
        data = _json(event.data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EventError(f"event {event['id']}: data is not JSON: {error}") from None
    attributes = event.get_attributes()
    row: dict[str, Any] = {"id": event["id"], "kind": kind, "time": attributes.get("time") or _now(),
                           "inferenceservice": attributes.get("inferenceservicename"),
                           "namespace": attributes.get("namespace"), "component": attributes.get("component"),
                           "endpoint": attributes.get("endpoint"), "unit": _unit(attributes.get("metadata"))}
    if isinstance(data, dict) and kind == "request":
        if isinstance(data.get("inputs"), list) and data["inputs"]:
            shape = data["inputs"][0].get("shape") or [len(data["inputs"][0].get("data") or [])]
            row["items"] = int(shape[0])
        elif isinstance(data.get("instances"), list):
            row["items"] = len(data["instances"])
    elif isinstance(data, dict):
        row["model_version"] = data.get("model_version")
        if isinstance(data.get("outputs"), list) and data["outputs"]:
            row["scores"] = data["outputs"][0].get("data")
        elif isinstance(data.get("predictions"), list):
            row["scores"] = data["predictions"]
    return row


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1_000_000:06d}Z"


class EventSink:
    """The buffer and its writer thread."""

    def __init__(self, config: EventSinkConfig) -> None:
        self.config = config
        self.lines: list[str] = []
        self.oldest = 0.0
        self.lock = threading.Lock()
        self.written = 0
        self.parts = 0
        self.started = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="event-sink-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def add(self, row: dict[str, Any]) -> bool:
        """Buffer ROW; False when the buffer is full (the caller answers 503)."""
        with self.lock:
            if len(self.lines) >= self.config.max_buffered_events:
                return False
            if not self.lines:
                self.oldest = time.monotonic()
            self.lines.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
            return True

    def flush(self) -> int:
        """Write what waits as one part file; returns the lines written."""
        from relevance_distill import storage

        with self.lock:
            lines, self.lines = self.lines, []
        if not lines:
            return 0
        self.parts += 1
        name = f"part-{self.started}-{os.getpid()}-{self.parts:06d}.jsonl"
        try:
            storage.write_bytes(storage.join(self.config.events_uri, name), ("\n".join(lines) + "\n").encode("utf-8"))
        except Exception:
            with self.lock:  # keep them for the next attempt rather than lose them
                self.lines[:0] = lines
            raise
        self.written += len(lines)
        print(f"event sink: wrote {len(lines)} events to {name} ({self.written} in all)", flush=True)
        return len(lines)

    def _loop(self) -> None:
        while not self.stopping.wait(0.2):
            with self.lock:
                due = bool(self.lines) and (len(self.lines) >= self.config.flush_events or
                                            time.monotonic() - self.oldest >= self.config.flush_seconds)
            if due:
                try:
                    self.flush()
                except Exception as error:  # noqa: BLE001 - reported and retried on the next tick
                    print(f"event sink: writing failed, will retry: {error}", flush=True)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        self.flush()


def create_app(config: EventSinkConfig) -> Any:
    """The ASGI app: ``POST /events`` (and ``POST /``) take one CloudEvent each; ``GET /healthz``."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    sink = EventSink(config)

    @asynccontextmanager
    async def lifespan(app):
        sink.start()
        print(f"event sink: writing to {config.events_uri}", flush=True)
        yield
        sink.stop()
        print(f"event sink: stopped after {sink.written} events", flush=True)

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > config.max_event_bytes:
            return JSONResponse({"error": f"event of {len(body)} bytes exceeds max_event_bytes "
                                          f"{config.max_event_bytes}"}, status_code=413)
        try:
            row = event_row(dict(request.headers), body)
        except EventError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        if not sink.add(row):
            return JSONResponse({"error": "buffer full; retry later"}, status_code=503)
        return JSONResponse({"accepted": row["id"]}, status_code=202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"buffered": len(sink.lines), "written": sink.written})

    app = Starlette(routes=[Route("/events", receive, methods=["POST"]), Route("/", receive, methods=["POST"]),
                            Route("/healthz", health, methods=["GET"])], lifespan=lifespan)
    app.state.sink = sink
    return app


def serve(config: EventSinkConfig, host: str = "0.0.0.0", port: int = 8080) -> None:
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", timeout_graceful_shutdown=20)
