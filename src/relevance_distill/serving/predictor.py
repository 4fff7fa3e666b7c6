"""KServe predictor for the exported student: V1 and Open Inference Protocol (V2) on one model.

Lifecycle (KServe's): ``load()`` pulls and verifies the export, then sets ``ready`` → ``preprocess``
validates and normalises either protocol into (queries, service texts) → ``predict`` runs the backend (``backends.py``) on length-sorted sub-batches, each padded to its longest pair
→ ``postprocess`` shapes the protocol's response. Every response names the model version (V2
``model_version``; V1 header ``x-model-version``) so A/B logs can attribute each request to a variant.

Bad input raises ``InvalidInput`` (HTTP 400) naming the field; the server stays ready.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from pydantic import ValidationError

from relevance_distill import storage
from relevance_distill.layout import EXPORT_INFO, LABEL_SCHEME_FILE
from relevance_distill.schemas import LabelScheme, Service
from relevance_distill.serving.backends import (
    AUTO,
    BACKENDS,
    batched_logits,
    fastest_backend,
    load_backend,
    published_backends,
)
from relevance_distill.serving.limits import ServingLimits, check_raw_service

logger = logging.getLogger(__name__)

MODEL_VERSION_HEADER = "x-model-version"
V2_INPUTS = ("query", "service_text")
# What `auto` times each backend on: one query × 48 services of mixed length, like a search request.
PROBE_REQUEST = (["hotpot with a private room near me"] * 48,
                 [f"Service {i} | category: Food > Hotpot | price: {20 + i}" + " open late, parking" * (i % 8)
                  for i in range(48)])


@dataclass(frozen=True)
class ScoringBatch:
    protocol: str
    queries: list[str]
    services: list[str]
    request: InferRequest | None = None


def locate_model(model_uri: str, download_dir: str | Path | None = None) -> Path:
    """A verified local directory for ``model_uri`` (s3:// prefix, local dir, or KServe's /mnt/models)."""
    if storage.is_s3(model_uri):
        return storage.fetch_dir(model_uri, download_dir)
    path = storage.local_path(model_uri)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory {model_uri!r} does not exist")
    storage.fetch_dir(str(path))  # verifies every checksum in place; refuses an export without a manifest
    return path


class RelevancePredictor(Model):
    def __init__(self, name: str, model_uri: str, backend: str = AUTO, num_threads: int | None = None,
                 limits: ServingLimits | None = None):
        if backend != AUTO and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; allowed: {[AUTO, *BACKENDS]}")
        super().__init__(name, return_response_headers=True)
        self.model_uri = model_uri
        self.backend = backend
        self.num_threads = num_threads
        self.limits = limits or ServingLimits()
        self.version = "unknown"
        self.cutpoints: list[float] | None = None
        self.probe_ms: dict[str, float] = {}
        self.ready = False

    # -- lifecycle -----------------------------------------------------------------------------------
    def load(self) -> bool:
        from transformers import AutoTokenizer

        from relevance_distill.encoding import ViewEncoder
        from relevance_distill.hf import quiet_transformers

        quiet_transformers()
        directory = locate_model(self.model_uri)
        info = json.loads((directory / EXPORT_INFO).read_text(encoding="utf-8"))
        self.version = str(info["version"])
        self.scheme = LabelScheme.model_validate_json((directory / LABEL_SCHEME_FILE).read_text(encoding="utf-8"))
        # One tokenizer and one session per process, reused by every request.
        tokenizer = AutoTokenizer.from_pretrained(directory)
        self.encoder = ViewEncoder(tokenizer, info["max_length"], info["max_length"], info["max_query_tokens"])
        # The decoder the gate judged: argmax, or the expected grade cut at the dev-tuned points (ordinal).
        decoding = info.get("decoding") or {"method": "argmax"}
        self.cutpoints = decoding.get("cutpoints") if decoding.get("method") == "ordinal" else None
        grades = np.array([label.grade for label in self.scheme.labels], dtype=np.float32)
        self._grades = (grades - grades[0]) / (grades[-1] - grades[0])
        published = published_backends(info, directory)
        if self.backend == AUTO:
            self.backend, self._backend, self.probe_ms = fastest_backend(
                published, directory, self.num_threads, self.encoder.encode(*PROBE_REQUEST)[0], self.encoder.pad_id,
                self.limits.sub_batch_size)
        elif self.backend not in published:
            raise ValueError(f"backend {self.backend!r} is not published in {self.model_uri} (a reduced-precision "
                             f"backend that failed the export's accuracy gate, or a file the export did not write); "
                             f"published: {published}")
        else:
            self._backend = load_backend(self.backend, directory, self.num_threads)
        self.ready = True
        logger.info("loaded %s version %s (%s backend%s) from %s", self.name, self.version, self.backend,
                    f", fastest of {self.probe_ms}" if self.probe_ms else "", self.model_uri)
        return self.ready

    # -- metadata (V2) -------------------------------------------------------------------------------
    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": name, "datatype": "BYTES", "shape": [-1]} for name in V2_INPUTS]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP32", "shape": [-1]},
                {"name": "probs", "datatype": "FP32", "shape": [-1, self.scheme.num_labels]}]

    # -- preprocess ----------------------------------------------------------------------------------
    def _check_text(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
        if not value.strip():
            raise InvalidInput(f"{field} must not be empty")
        if len(value) > self.limits.max_text_chars:
            raise InvalidInput(f"{field} has {len(value)} characters; the maximum is {self.limits.max_text_chars}")
        return value

    def _check_batch_size(self, size: int, field: str) -> None:
        if size == 0:
            raise InvalidInput(f"{field} must not be empty")
        if size > self.limits.max_batch_size:
            raise InvalidInput(f"{field} has {size} items; the maximum batch is {self.limits.max_batch_size}")

    def _v1(self, payload: Any) -> ScoringBatch:
        if isinstance(payload, (bytes, str)):
            # KServe decodes JSON only for 'Content-Type: application/json'; `curl -d` sends a form type.
            try:
                payload = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise InvalidInput("request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise InvalidInput(f"request body must be a JSON object with 'instances', got {type(payload).__name__}")
        instances = payload.get("instances")
        if not isinstance(instances, list):
            raise InvalidInput("'instances' must be a list of {\"query\": …, \"service\": {…}} objects")
        self._check_batch_size(len(instances), "instances")
        queries, services = [], []
        for index, instance in enumerate(instances):
            field = f"instances[{index}]"
            if not isinstance(instance, dict):
                raise InvalidInput(f"{field} must be an object, got {type(instance).__name__}")
            unknown = set(instance) - {"query", "service", "service_text"}
            if unknown:
                raise InvalidInput(f"{field} has unknown fields {sorted(unknown)}; allowed: ['query', 'service', 'service_text']")
            queries.append(self._check_text(instance.get("query"), f"{field}.query"))
            if "service" in instance:
                service = instance["service"]
                if not isinstance(service, dict):
                    raise InvalidInput(f"{field}.service must be an object, got {type(service).__name__}")
                check_raw_service(service, f"{field}.service", self.limits)
                try:
                    parsed = Service.model_validate({"service_id": "request", **service})
                except ValidationError as error:
                    first = error.errors()[0]
                    location = ".".join(str(part) for part in first["loc"])
                    raise InvalidInput(f"{field}.service.{location}: {first['msg'].removeprefix('Value error, ')}") from None
                text = parsed.to_text()
                self._check_text(text, f"{field}.service")
                services.append(text)
            elif "service_text" in instance:
                services.append(self._check_text(instance["service_text"], f"{field}.service_text"))
            else:
                raise InvalidInput(f"{field} needs 'service' (an object with at least 'title') or 'service_text'")
        return ScoringBatch("v1", queries, services)

    def _v2(self, request: InferRequest) -> ScoringBatch:
        by_name = {}
        for tensor in request.inputs:
            if tensor.name in by_name:
                raise InvalidInput(f"input {tensor.name!r} appears twice")
            by_name[tensor.name] = tensor
        missing = [name for name in V2_INPUTS if name not in by_name]
        unknown = sorted(set(by_name) - set(V2_INPUTS))
        if missing or unknown:
            raise InvalidInput(f"inputs must be exactly {list(V2_INPUTS)}; missing {missing}, unknown {unknown}")
        columns = {}
        for name in V2_INPUTS:
            tensor = by_name[name]
            if tensor.datatype != "BYTES":
                raise InvalidInput(f"input {name!r} must have datatype BYTES, got {tensor.datatype}")
            if len(tensor.shape) != 1:
                raise InvalidInput(f"input {name!r} must have shape [N], got {tensor.shape}")
            try:
                values = tensor.as_numpy().reshape(-1).tolist()
            except Exception as error:  # kserve raises various types for data that does not match the shape
                raise InvalidInput(f"input {name!r} data does not match its shape {tensor.shape}: {error}") from None
            if len(values) != tensor.shape[0]:
                raise InvalidInput(f"input {name!r} has {len(values)} elements but shape {tensor.shape}")
            texts = []
            for index, value in enumerate(values):
                if isinstance(value, bytes):
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError:
                        raise InvalidInput(f"{name}[{index}] is not valid UTF-8") from None
                texts.append(self._check_text(value, f"{name}[{index}]"))
            columns[name] = texts
        if len(columns["query"]) != len(columns["service_text"]):
            raise InvalidInput(f"inputs 'query' ({len(columns['query'])}) and 'service_text' "
                               f"({len(columns['service_text'])}) must have the same length")
        self._check_batch_size(len(columns["query"]), "inputs")
        if request.request_outputs:
            names = [output.name for output in request.request_outputs]
            unknown_outputs = sorted(set(names) - {"label", "score", "probs"})
            if unknown_outputs:
                raise InvalidInput(f"unknown requested outputs {unknown_outputs}; allowed: ['label', 'probs', 'score']")
        return ScoringBatch("v2", columns["query"], columns["service_text"], request)

    def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> ScoringBatch:
        if isinstance(payload, InferRequest):
            return self._v2(payload)
        return self._v1(payload)

    # -- predict -------------------------------------------------------------------------------------
    def probabilities(self, queries: list[str], services: list[str]) -> np.ndarray:
        """Label distributions for aligned lists of queries and service texts."""
        standard, _ = self.encoder.encode(queries, services)
        logits = batched_logits(self._backend, standard, self.encoder.pad_id, self.limits.sub_batch_size)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, payload: ScoringBatch, headers: dict[str, str] | None = None,
                response_headers: dict[str, str] | None = None) -> tuple[ScoringBatch, np.ndarray]:
        return payload, self.probabilities(payload.queries, payload.services)

    # -- postprocess ---------------------------------------------------------------------------------
    def label_indices(self, probabilities: np.ndarray) -> np.ndarray:
        """Label of each row under the published decoding (``relevance_distill.json`` ``decoding``)."""
        if self.cutpoints is None:
            return probabilities.argmax(axis=1)
        from relevance_distill.evaluation.metrics import ordinal_predictions

        return ordinal_predictions(probabilities, self.cutpoints)

    def postprocess(self, result: tuple[ScoringBatch, np.ndarray], headers: dict[str, str] | None = None,
                    response_headers: dict[str, str] | None = None) -> dict[str, Any] | InferResponse:
        payload, probabilities = result
        labels = [self.scheme.names[i] for i in self.label_indices(probabilities)]
        scores = (probabilities @ self._grades).astype(np.float32)
        if response_headers is not None:
            response_headers[MODEL_VERSION_HEADER] = self.version
        if payload.protocol == "v1":
            return {"predictions": [
                {"label": label, "score": float(score), "probs": dict(zip(self.scheme.names, map(float, row)))}
                for label, score, row in zip(labels, scores, probabilities)
            ]}
        label_output = InferOutput("label", [len(labels)], "BYTES")
        label_output.set_data_from_numpy(np.array(labels, dtype=np.object_), binary_data=False)
        score_output = InferOutput("score", [len(labels)], "FP32")
        score_output.set_data_from_numpy(scores, binary_data=False)
        probs_output = InferOutput("probs", list(probabilities.shape), "FP32")
        probs_output.set_data_from_numpy(probabilities.astype(np.float32), binary_data=False)
        request = payload.request
        return InferResponse(response_id=request.id or "", model_name=self.name, model_version=self.version,
                             infer_outputs=[label_output, score_output, probs_output],
                             use_binary_outputs=request.use_binary_outputs, requested_outputs=request.request_outputs)
