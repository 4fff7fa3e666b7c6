"""The predictor behind the real KServe model server over HTTP: V1, V2, metadata, health, metrics, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

from relevance_distill.schemas import Service

from .conftest import ServerProcess

LABELS = ["irrelevant", "weak", "relevant", "exact"]
SERVICE = {"title": "Golden Hotpot (Chaoyang)", "category": "Food > Hotpot", "location": "Chaoyang District", "price": 88,
           "attributes": {"features": "private room"}}


def _v1(server, body, **kwargs):
    return httpx.post(f"{server.base}/v1/models/relevance:predict", json=body, timeout=30, **kwargs)


def _v2_body(queries, services):
    return {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [len(queries)], "data": queries},
                       {"name": "service_text", "datatype": "BYTES", "shape": [len(services)], "data": services}]}


def test_v1_predict_with_version_header(server):
    response = _v1(server, {"instances": [{"query": "hotpot in Chaoyang", "service": SERVICE},
                                          {"query": "朝阳 火锅", "service_text": "金鼎火锅(朝阳店) | 美食 > 火锅"}]})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "v-test-1"
    predictions = response.json()["predictions"]
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["label"] in LABELS and 0 <= prediction["score"] <= 1
        assert list(prediction["probs"]) == LABELS and sum(prediction["probs"].values()) == pytest.approx(1, abs=1e-5)
        assert prediction["label"] == max(prediction["probs"], key=prediction["probs"].get)


def test_v1_without_json_content_type(server):
    """`curl -d '{…}'` sends application/x-www-form-urlencoded; the body is still JSON and must work."""
    body = json.dumps({"instances": [{"query": "hotpot", "service": SERVICE}]})
    response = httpx.post(f"{server.base}/v1/models/relevance:predict", content=body, timeout=30,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] in LABELS
    broken = httpx.post(f"{server.base}/v1/models/relevance:predict", content=b"{oops", timeout=30,
                        headers={"content-type": "text/plain"})
    assert broken.status_code == 400 and "not valid JSON" in broken.text


def test_v2_infer_matches_v1(server):
    text = Service(service_id="x", **SERVICE).to_text()
    v1 = _v1(server, {"instances": [{"query": "hotpot in Chaoyang", "service": SERVICE}] * 3}).json()["predictions"]
    response = httpx.post(f"{server.base}/v2/models/relevance/infer", timeout=30,
                          json={"id": "req-7", **_v2_body(["hotpot in Chaoyang"] * 3, [text] * 3)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "v-test-1" and body["id"] == "req-7" and body["model_name"] == "relevance"
    outputs = {output["name"]: output for output in body["outputs"]}
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == [p["label"] for p in v1]
    assert outputs["score"]["datatype"] == "FP32" and outputs["score"]["shape"] == [3]
    assert outputs["probs"]["shape"] == [3, 4]
    probs = np.array(outputs["probs"]["data"]).reshape(3, 4)
    assert np.allclose(probs[0], [v1[0]["probs"][label] for label in LABELS], atol=1e-6)


def test_metadata_readiness_and_metrics(server):
    metadata = httpx.get(f"{server.base}/v2/models/relevance", timeout=10).json()
    assert [i["name"] for i in metadata["inputs"]] == ["query", "service_text"]
    assert {o["name"]: o["shape"] for o in metadata["outputs"]} == {"label": [-1], "score": [-1], "probs": [-1, 4]}
    assert httpx.get(f"{server.base}/v2/models/relevance/ready", timeout=10).status_code == 200
    assert httpx.get(f"{server.base}/v1/models/relevance", timeout=10).json()["ready"] is True
    metrics = httpx.get(f"{server.base}/metrics", timeout=10)
    assert metrics.status_code == 200 and "request_predict_seconds" in metrics.text


HUGE = "x" * 6000
MALFORMED_V1 = [
    b"not json at all",
    b"[]",
    b'"a string"',
    b"{}",
    b'{"instances": {}}',
    b'{"instances": "hotpot"}',
    b'{"instances": []}',
    b'{"instances": [42]}',
    b'{"instances": [null]}',
    b'{"instances": [{"service": {"title": "t"}}]}',
    b'{"instances": [{"query": "q"}]}',
    b'{"instances": [{"query": 5, "service": {"title": "t"}}]}',
    b'{"instances": [{"query": "", "service": {"title": "t"}}]}',
    b'{"instances": [{"query": "   ", "service": {"title": "t"}}]}',
    b'{"instances": [{"query": "q", "service": {"title": ""}}]}',
    b'{"instances": [{"query": "q", "service": {}}]}',
    b'{"instances": [{"query": "q", "service": "t"}]}',
    b'{"instances": [{"query": "q", "service": {"title": "t", "price": "cheap"}}]}',
    b'{"instances": [{"query": "q", "service": {"title": "t", "price": -3}}]}',
    b'{"instances": [{"query": "q", "service": {"title": "t", "colour": "red"}}]}',
    b'{"instances": [{"query": "q", "service_text": 7}]}',
    b'{"instances": [{"query": "q", "service_text": ""}]}',
    b'{"instances": [{"query": "q", "service": {"title": "t"}, "extra": 1}]}',
    json.dumps({"instances": [{"query": HUGE, "service": {"title": "t"}}]}).encode(),
    json.dumps({"instances": [{"query": "q", "service": {"title": "t"}}] * 65}).encode(),
]
MALFORMED_V2 = [
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": ["q"]}]},
    {"inputs": []},
    {"inputs": "query"},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": ["q"]},
                {"name": "service_text", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}]},
    {"inputs": [{"name": "query", "datatype": "FP32", "shape": [1], "data": [1.0]},
                {"name": "service_text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [2], "data": ["q"]},
                {"name": "service_text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1, 1], "data": ["q"]},
                {"name": "service_text", "datatype": "BYTES", "shape": [1, 1], "data": ["a"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": [""]},
                {"name": "service_text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": ["q"]},
                {"name": "service_text", "datatype": "BYTES", "shape": [1], "data": ["a"]},
                {"name": "user", "datatype": "BYTES", "shape": [1], "data": ["u"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": [HUGE]},
                {"name": "service_text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]},
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [0], "data": []},
                {"name": "service_text", "datatype": "BYTES", "shape": [0], "data": []}]},
    _v2_body(["q"] * 65, ["s"] * 65),
    {"inputs": [{"name": "query", "datatype": "BYTES", "shape": [1], "data": ["q"]},
                {"name": "query", "datatype": "BYTES", "shape": [1], "data": ["q"]}]},
    {"outputs": [{"name": "label"}]},
    {**_v2_body(["q"], ["s"]), "outputs": [{"name": "embedding"}]},
]


def test_malformed_requests_get_4xx_and_server_stays_ready(server):
    assert len(MALFORMED_V1) + len(MALFORMED_V2) >= 30
    for body in MALFORMED_V1:
        response = httpx.post(f"{server.base}/v1/models/relevance:predict", content=body, timeout=30,
                              headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text)
    for body in MALFORMED_V2:
        response = httpx.post(f"{server.base}/v2/models/relevance/infer", json=body, timeout=30)
        assert 400 <= response.status_code < 500, (str(body)[:120], response.status_code, response.text)
    field_named = _v1(server, {"instances": [{"query": "q", "service": {"title": "t", "price": "cheap"}}]})
    assert "instances[0].service.price" in field_named.text
    assert httpx.get(f"{server.base}/v2/health/ready", timeout=10).status_code == 200
    assert _v1(server, {"instances": [{"query": "hotpot", "service": SERVICE}]}).status_code == 200


def test_long_inputs_are_truncated_not_rejected(server):
    long_text = "hotpot " * 600  # far past 64 tokens, under the character limit
    response = _v1(server, {"instances": [{"query": long_text[:4000], "service_text": long_text[:4900]}]})
    assert response.status_code == 200, response.text


def test_tritonclient_http_against_our_server(server):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.http_port}")
    assert client.is_server_ready() and client.is_model_ready("relevance")
    metadata = client.get_model_metadata("relevance")
    assert {o["name"] for o in metadata["outputs"]} == {"label", "score", "probs"}
    inputs = []
    for name, values in (("query", ["hotpot in Chaoyang", "plumber"]), ("service_text", ["Golden Hotpot", "Pipe Fix"])):
        tensor = triton.InferInput(name, [2], "BYTES")
        tensor.set_data_from_numpy(np.array(values, dtype=np.object_), binary_data=True)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("probs", binary_data=True), triton.InferRequestedOutput("label", binary_data=False)]
    result = client.infer("relevance", inputs, outputs=outputs)
    probs = result.as_numpy("probs")
    assert probs.shape == (2, 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")] == \
        [LABELS[i] for i in probs.argmax(axis=1)]
    assert result.get_response()["model_version"] == "v-test-1"


def test_every_backend_gives_the_labels_of_torch_fp32(exported_model, builtin_splits):
    """fp32 graphs: the same labels and probabilities as torch; INT8 and bf16: the agreement their export gate
    measured. The bf16 backends run only where the CPU has bf16 instructions (elsewhere the export does not publish
    them)."""
    from relevance_distill.devices import cpu_has_native_bf16
    from relevance_distill.serving.backends import BACKENDS, openvino_has_bf16
    from relevance_distill.serving.predictor import RelevancePredictor

    _, local = exported_model
    runnable = [backend for backend in BACKENDS if (backend != "openvino_bf16" or openvino_has_bf16())
                and (backend != "torch_bf16" or cpu_has_native_bf16())]
    pairs = builtin_splits["test"][:40]
    queries, services = [p.query for p in pairs], [p.service.to_text() for p in pairs]
    probabilities = {}
    for backend in runnable:
        predictor = RelevancePredictor("relevance", str(local), backend, num_threads=1)
        predictor.load()
        probabilities[backend] = predictor.probabilities(queries, services)
    reference = probabilities["torch"]
    for backend in ("onnx", "onnx_optimized", "openvino"):
        assert (probabilities[backend].argmax(1) == reference.argmax(1)).all(), backend
        assert np.allclose(probabilities[backend], reference, atol=1e-3), backend
    assert "openvino_int8" in runnable
    for backend in {"torch_bf16", "onnx_int8", "openvino_bf16", "openvino_int8"} & set(runnable):
        agreement = (probabilities[backend].argmax(1) == reference.argmax(1)).mean()
        assert agreement >= 0.9, (backend, agreement)
    auto = RelevancePredictor("relevance", str(local), "auto", num_threads=1)
    auto.load()
    # `auto` timed every published backend on its probe request and kept the fastest.
    assert set(auto.probe_ms) == set(runnable) and auto.backend == min(auto.probe_ms, key=auto.probe_ms.get)


def test_a_bf16_backend_this_cpu_cannot_run_is_refused_skipped_by_auto_and_not_published(
        exported_model, builtin_splits, scheme, monkeypatch):
    """On a CPU without bf16 instructions (simulated: OpenVINO reports no BF16 capability, oneDNN is limited to AVX2),
    openvino_bf16 and torch_bf16 are refused
    at load with a message naming the alternatives, `auto` skips it, and the export's gate does not publish it."""
    from transformers import AutoTokenizer

    from relevance_distill.export import gate_reduced_precision
    from relevance_distill.serving import backends
    from relevance_distill.serving.predictor import PROBE_REQUEST, RelevancePredictor

    _, local = exported_model
    monkeypatch.setattr(backends, "openvino_has_bf16", lambda: False)
    with pytest.raises(backends.BackendUnavailable, match="serve 'openvino' or 'auto'"):
        backends.load_backend("openvino_bf16", local, threads=1)
    # The INT8 IR runs its float remainder in fp32 on such a CPU instead of being refused.
    backends.load_backend("openvino_int8", local, threads=1)
    predictor = RelevancePredictor("relevance", str(local), "torch", num_threads=1)
    predictor.load()
    probe = predictor.encoder.encode(*PROBE_REQUEST)[0]
    name, _, medians = backends.fastest_backend(["openvino_bf16", "torch"], local, 1, probe, predictor.encoder.pad_id, 64)
    assert name == "torch" and set(medians) == {"torch"}
    # torch_bf16 likewise where oneDNN may not use bf16 instructions (torch would only emulate them, slowly).
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    with pytest.raises(backends.BackendUnavailable, match="serve torch"):
        backends.load_backend("torch_bf16", local, threads=1)
    gated = gate_reduced_precision(local, ["torch_bf16", "openvino_bf16"], AutoTokenizer.from_pretrained(local), 64,
                                   scheme, builtin_splits["test"][:20], max_drop=1.0)
    for name in ("torch_bf16", "openvino_bf16"):
        assert gated[name] == {"published": False, "unavailable": gated[name]["unavailable"]}
    assert (local / "model.ov.xml").is_file()  # the fp32 OpenVINO backend keeps its graph


def test_a_backend_the_export_did_not_publish_is_refused(exported_model, tmp_path):
    import json
    import shutil

    from relevance_distill import storage
    from relevance_distill.serving.predictor import RelevancePredictor

    _, local = exported_model
    staging = tmp_path / "staging"
    shutil.copytree(local, staging, ignore=shutil.ignore_patterns(storage.MANIFEST_NAME))
    info = json.loads((staging / "relevance_distill.json").read_text())
    info["backends"]["torch_bf16"]["published"] = False  # what the export records when the gate refuses bf16
    (staging / "relevance_distill.json").write_text(json.dumps(info))
    copy = tmp_path / "model"
    storage.publish_dir(staging, str(copy))
    with pytest.raises(ValueError, match="'torch_bf16' is not published"):
        RelevancePredictor("relevance", str(copy), "torch_bf16", num_threads=1).load()


def test_dynamic_padding_and_sub_batches_do_not_change_scores(exported_model):
    from relevance_distill.serving.limits import ServingLimits
    from relevance_distill.serving.predictor import RelevancePredictor

    _, local = exported_model
    short, long = ("hotpot", "Golden Hotpot"), ("plumber near me tonight", "Pipe Fix 24h | " + "emergency plumbing " * 20)
    predictor = RelevancePredictor("relevance", str(local), "torch", num_threads=1)
    predictor.load()
    alone = predictor.probabilities([short[0]], [short[1]])
    padded = predictor.probabilities([short[0], long[0]], [short[1], long[1]])  # the short pair padded to the long one
    assert np.allclose(alone[0], padded[0], atol=1e-5)
    queries = [short[0], long[0], "dog grooming", "朝阳 火锅", "usb cable"]
    services = [short[1], long[1], "Happy Paws", "金鼎火锅(朝阳店)", "Anker USB-C"]
    split = RelevancePredictor("relevance", str(local), "torch", num_threads=1, limits=ServingLimits(sub_batch_size=2))
    split.load()
    assert np.allclose(split.probabilities(queries, services), predictor.probabilities(queries, services), atol=1e-5)


def test_auto_backend_over_http_agrees_with_torch(server, exported_model, tmp_path):
    uri, _ = exported_model
    auto_server = ServerProcess(uri, tmp_path / "auto.log", backend="auto")
    try:
        body = {"instances": [{"query": "hotpot in Chaoyang", "service": SERVICE}, {"query": "plumber", "service_text": "Pipe Fix"}]}
        torch_predictions = _v1(server, body).json()["predictions"]
        auto_predictions = _v1(auto_server, body).json()["predictions"]
        for a, b in zip(torch_predictions, auto_predictions):
            assert a["label"] == b["label"]
            assert np.allclose(list(a["probs"].values()), list(b["probs"].values()), atol=0.05)
    finally:
        auto_server.stop()


GRPC_CLIENT = """
import json, sys
import numpy as np
import tritonclient.grpc as triton_grpc

url, queries, services = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
client = triton_grpc.InferenceServerClient(url=url)
inputs = []
for name, values in (("query", queries), ("service_text", services)):
    tensor = triton_grpc.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array([v.encode() for v in values], dtype=np.object_))
    inputs.append(tensor)
result = client.infer("relevance", inputs)
print(json.dumps({"ready": client.is_server_ready() and client.is_model_ready("relevance"),
                  "version": result.get_response().model_version,
                  "label": [v.decode() for v in result.as_numpy("label")],
                  "score": result.as_numpy("score").tolist(), "probs": result.as_numpy("probs").tolist()}))
client.close()
"""


def test_grpc_open_inference_protocol_equals_http(server):
    """KServe's gRPC endpoint (Open Inference Protocol) through Triton's gRPC client gives what HTTP V2 gives. The
    client runs in its own process: its copy of the protocol's .proto cannot share a descriptor pool with KServe's."""
    queries, services = ["hotpot in Chaoyang", "plumber", "朝阳 火锅"], ["Golden Hotpot", "Pipe Fix", "金鼎火锅(朝阳店)"]
    completed = subprocess.run([sys.executable, "-c", GRPC_CLIENT, f"127.0.0.1:{server.grpc_port}", json.dumps(queries),
                                json.dumps(services)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    grpc = json.loads(completed.stdout.strip().splitlines()[-1])
    http = httpx.post(f"{server.base}/v2/models/relevance/infer", json=_v2_body(queries, services), timeout=30).json()
    by_name = {output["name"]: output for output in http["outputs"]}
    assert grpc["ready"] and grpc["version"] == "v-test-1"
    assert np.allclose(grpc["probs"], np.array(by_name["probs"]["data"]).reshape(3, 4), atol=1e-6)
    assert np.allclose(grpc["score"], by_name["score"]["data"], atol=1e-6)
    assert grpc["label"] == by_name["label"]["data"]


def test_a_body_over_the_limit_gets_413_before_it_is_parsed(server):
    from .conftest import MAX_REQUEST_BYTES

    instance = {"query": "hotpot", "service_text": "x" * 4000}
    oversized = json.dumps({"instances": [instance] * (MAX_REQUEST_BYTES // 4000 + 10)}).encode()
    response = httpx.post(f"{server.base}/v1/models/relevance:predict", content=oversized, timeout=30,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413 and "--max_request_bytes" in response.text

    def chunks():  # no Content-Length: the body is counted as it streams in
        for start in range(0, len(oversized), 65536):
            yield oversized[start : start + 65536]

    response = httpx.post(f"{server.base}/v1/models/relevance:predict", content=chunks(), timeout=30,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert httpx.get(f"{server.base}/v2/health/ready", timeout=10).status_code == 200
    assert _v1(server, {"instances": [{"query": "hotpot", "service": SERVICE}]}).status_code == 200


def test_an_oversized_service_object_is_refused_before_validation(server):
    crowded = {"title": "t", "attributes": {f"key{i}": "v" for i in range(600)}}
    response = _v1(server, {"instances": [{"query": "q", "service": crowded}]})
    assert response.status_code == 400 and "instances[0].service holds more than 512 values" in response.text
    wordy = {"title": "t", "tags": ["w" * 1000] * 6}  # 6,000 characters of text, over this server's 5,000
    response = _v1(server, {"instances": [{"query": "q", "service": wordy}]})
    assert response.status_code == 400 and "characters of text" in response.text


@pytest.mark.parametrize("flags", [["--max-batch-size", "8"], ["--max_batch", "8"], ["--backend=onnx", "--thread", "2"]])
def test_unknown_or_misspelt_flags_are_errors(flags, tmp_path):
    import subprocess
    import sys

    process = subprocess.run([sys.executable, "-m", "relevance_distill.serving", "--model_uri", str(tmp_path), *flags],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 2 and "unrecognized arguments" in process.stderr, process.stderr[-2000:]
