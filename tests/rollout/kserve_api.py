"""A Kubernetes API server on loopback that holds one InferenceService and lets KServe's traffic rules act on it
(``rollout/serverless_model.py``): the kubernetes Python client talks to it over real HTTP (get, JSON Patch, list +
watch), so the rollout verbs run exactly as they would against a cluster. Revisions become ready (or fail) after a
delay the test sets per storage URI, and every change of who gets what traffic is recorded in ``timeline``."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jsonpatch
import yaml

from relevance_distill.rollout.serverless_model import ServerlessModel


class KServeApi:
    def __init__(self, isvc: dict, ready_after: float = 0.3) -> None:
        self.lock = threading.Lock()
        self.model = ServerlessModel(isvc)
        self.namespace, self.name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        self.ready_after = ready_after
        self.outcome: dict[str, tuple[str, float]] = {}  # storage URI -> ("ready" | failure message, delay)
        self.created_at = time.monotonic()
        self.resource_version = 1
        self.requests: list[dict] = []
        self.timeline: list[tuple[str, dict[str, int]]] = [("created", self.model.shares())]
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                api.requests.append({"verb": "watch" if query.get("watch") else "get", "path": url.path})
                base = f"/apis/serving.kserve.io/v1beta1/namespaces/{api.namespace}/inferenceservices"
                if url.path == f"{base}/{api.name}":
                    return self._send(200, api.current())
                if url.path == base and query.get("watch", ["false"])[0].lower() == "true":
                    assert query.get("fieldSelector") == [f"metadata.name={api.name}"], query
                    return self._watch(float(query.get("timeoutSeconds", ["30"])[0]))
                self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})

            def _watch(self, seconds: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent, kind, deadline = None, "ADDED", time.monotonic() + seconds
                try:
                    while time.monotonic() < deadline:
                        current = api.current()
                        if current["metadata"]["resourceVersion"] != sent:
                            line = json.dumps({"type": kind, "object": current}).encode() + b"\n"
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                            self.wfile.flush()
                            sent, kind = current["metadata"]["resourceVersion"], "MODIFIED"
                        time.sleep(0.02)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_PATCH(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append({"verb": "patch", "path": self.path, "content_type": self.headers["Content-Type"],
                                     "body": body})
                if self.headers["Content-Type"] != "application/json-patch+json":
                    return self._send(415, {"kind": "Status", "code": 415})
                with api.lock:
                    stored = {k: v for k, v in api.model.object().items() if k != "status"}
                    try:
                        updated = jsonpatch.apply_patch(stored, body)
                    except jsonpatch.JsonPatchTestFailed as error:
                        return self._send(422, {"kind": "Status", "code": 422, "message": str(error)})
                    api.model.apply(updated)
                    api.changed("patch")
                self._send(200, api.current())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- the cluster moving on its own ------------------------------------------------------------------------------

    def changed(self, why: str) -> None:
        self.resource_version += 1
        self.timeline.append((why, self.model.shares()))
        self.created_at = time.monotonic() if why == "patch" else self.created_at

    def current(self) -> dict:
        with self.lock:
            newest = self.model.revisions[-1]
            if newest.state == "pending":
                outcome, delay = self.outcome.get(newest.storage_uri, ("ready", self.ready_after))
                if time.monotonic() - self.created_at >= delay:
                    self.model.ready() if outcome == "ready" else self.model.fail(outcome)
                    self.changed(f"{newest.name} {'ready' if outcome == 'ready' else 'failed'}")
            current = self.model.object()
            current["metadata"]["resourceVersion"] = str(self.resource_version)
            return current

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test-token"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": self.namespace}}],
        }), encoding="utf-8")
        return path

    def __enter__(self) -> KServeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
