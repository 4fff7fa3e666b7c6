"""The event sink as KServe's request logger reaches it: real CloudEvents over HTTP on loopback (binary mode as
``pkg/logger/worker.go`` sends them, and structured mode), malformed ones refused with nothing written, a burst with
nothing lost, and `abtest analyze` reading what the sink wrote, joined with outcomes by request id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from typer.testing import CliRunner

from relevance_distill import storage
from relevance_distill.cli import app
from relevance_distill.rollout.assignment import assign
from relevance_distill.rollout.events import REQUEST_TYPE, RESPONSE_TYPE

runner = CliRunner()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sink(s3_bucket, tmp_path):
    port = free_port()
    events_uri = f"{s3_bucket}/ab/events"
    log = open(tmp_path / "sink.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "relevance_distill.cli", "abtest", "sink", "--events-uri",
                                events_uri, "--host", "127.0.0.1", "--port", str(port), "--flush-seconds", "0.5"],
                               stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "sink.log").read_text()
            time.sleep(0.2)
        yield base, events_uri, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        log.close()


def stop(process) -> None:
    """SIGTERM, as the kubelet sends it: the sink writes what waits, then uvicorn re-raises the signal."""
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)


def binary(event_id: str, kind: str, body: dict, unit: str | None) -> tuple[dict, bytes]:
    """Headers and body as KServe's logger sends them (binary mode, extensions as ce- headers)."""
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": kind,
               "ce-source": "http://localhost:9081/", "ce-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "ce-inferenceservicename": "relevance", "ce-namespace": "relevance-distill",
               "ce-component": "predictor", "ce-endpoint": "", "content-type": "application/json",
               "ce-metadata": json.dumps({"X-Relevance-Unit": [unit]} if unit else {})}
    return headers, json.dumps(body).encode()


def request_body(items: int) -> dict:
    return {"inputs": [{"name": "query", "shape": [items], "datatype": "BYTES", "data": ["q"] * items}]}


def response_body(version: str, items: int) -> dict:
    return {"model_name": "relevance", "model_version": version, "id": "x",
            "outputs": [{"name": "score", "shape": [items], "datatype": "FP32", "data": [0.5] * items}]}


def rows_written(events_uri: str) -> list[dict]:
    rows = []
    for name in storage.list_files(events_uri):
        rows += [json.loads(line) for line in storage.read_text(storage.join(events_uri, name)).splitlines()]
    return rows


def test_binary_and_structured_events_are_written_and_malformed_ones_refused(sink):
    from cloudevents.conversion import to_structured
    from cloudevents.http import CloudEvent

    base, events_uri, process = sink
    headers, body = binary("r-1", REQUEST_TYPE, request_body(3), "user-7")
    assert httpx.post(f"{base}/events", headers=headers, content=body).status_code == 202
    headers, body = binary("r-1", RESPONSE_TYPE, response_body("v2", 3), "user-7")
    assert httpx.post(f"{base}/events", headers=headers, content=body).status_code == 202
    event = CloudEvent({"id": "r-2", "type": REQUEST_TYPE, "source": "http://localhost:9081/",
                        "metadata": json.dumps({"x-relevance-unit": ["user-8"]})}, request_body(2))
    headers, body = to_structured(event)
    assert httpx.post(f"{base}/events", headers=headers, content=body).status_code == 202

    malformed = [
        ({"content-type": "application/json"}, b'{"inputs": []}'),  # no CloudEvent attributes at all
        ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0", "id": '),  # broken JSON
        binary("r-3", "com.example.other", {}, "user-9"),  # not one of the logger's types
        ({**binary("r-4", REQUEST_TYPE, {}, "u")[0]}, b"not json"),  # data that is not JSON
    ]
    for headers, body in malformed:
        response = httpx.post(f"{base}/events", headers=headers, content=body)
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
    stop(process)
    rows = rows_written(events_uri)
    assert len(rows) == 3  # nothing of the malformed ones
    request, response, structured = sorted(rows, key=lambda r: (r["id"], r["kind"] != "request"))
    assert request["unit"] == "user-7" and request["items"] == 3 and request["inferenceservice"] == "relevance"
    assert response["model_version"] == "v2" and response["scores"] == [0.5] * 3 and response["kind"] == "response"
    assert structured["unit"] == "user-8" and structured["items"] == 2


def test_a_burst_loses_nothing(sink):
    base, events_uri, process = sink

    async def burst(count: int, connections: int = 32) -> list[int]:
        gate = asyncio.Semaphore(connections)  # 32 senders at once, as the logger's worker pool would be
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections), timeout=60) as client:
            async def one(index: int) -> int:
                headers, body = binary(f"b-{index}", REQUEST_TYPE, request_body(1), f"u{index % 97}")
                async with gate:
                    return (await client.post(f"{base}/events", headers=headers, content=body)).status_code
            return await asyncio.gather(*(one(i) for i in range(count)))

    statuses = asyncio.run(burst(2000))
    assert statuses.count(202) == 2000
    stop(process)  # SIGTERM writes what still waits
    rows = rows_written(events_uri)
    assert len(rows) == 2000 and len({r["id"] for r in rows}) == 2000


def test_analyze_reads_the_sinks_log_per_user_joined_with_outcomes(sink, tmp_path):
    base, events_uri, process = sink
    outcomes = []
    with httpx.Client() as client:
        for index in range(600):
            unit = f"user-{index % 300}"
            arm = assign(unit, 0.5, "v2")
            request_id = str(uuid.uuid4())
            for kind, body in ((REQUEST_TYPE, request_body(4)),
                               (RESPONSE_TYPE, response_body("v2" if arm == "canary" else "v1", 4))):
                headers, data = binary(request_id, kind, body, unit)
                assert client.post(f"{base}/events", headers=headers, content=data).status_code == 202
            outcomes.append({"request_id": request_id, "click": index % 5 == 0, "order": 0, "gtv": 0.0})
    stop(process)
    outcomes_file = tmp_path / "outcomes.jsonl"
    outcomes_file.write_text("\n".join(json.dumps(o) for o in outcomes) + "\n")
    result = runner.invoke(app, ["abtest", "analyze", events_uri, "--canary-version", "v2", "--outcomes",
                                 str(outcomes_file), "--out", str(tmp_path / "ab"), "--expected-split", "0.5"])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "ab" / "decision.json").read_text())
    assert sum(document["users"].values()) == 300 and document["users_in_both_arms"]["users"] == 0
    assert document["impressions"]["stable"] + document["impressions"]["canary"] == 600
    assert document["rows"]["requests_without_unit"] == 0 and document["guardrails"]["error_rate"]["canary"] == 0
    canary_users = sum(assign(f"user-{i}", 0.5, "v2") == "canary" for i in range(300))
    assert document["users"]["canary"] == canary_users
    missing = runner.invoke(app, ["abtest", "analyze", f"{events_uri}-nothing", "--canary-version", "v2",
                                  "--out", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "part-" in missing.output
