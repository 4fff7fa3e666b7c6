"""Inference backends of the exported student, behind one call: token id arrays in, logits out.

* ``torch``: the safetensors model in PyTorch, fp32.
* ``torch_bf16``: the same weights cast to bfloat16 at load (no extra file); fast where the CPU has bf16 matrix
  instructions (AMX, AVX512-BF16) and refused at load where it has not (torch would emulate bf16, several times
  slower than fp32). Published only when it passed the export's accuracy gate, which therefore needs an exporting
  CPU with bf16, as openvino_bf16 does.
* ``onnx``: ``model.onnx`` as exported (fp32), in ONNX Runtime.
* ``onnx_optimized``: ``model.opt.onnx``, the same graph after ONNX Runtime's transformer optimizer (fused
  attention, GELU, LayerNorm and bias additions), fp32.
* ``onnx_int8``: ``model.int8.onnx``, dynamic INT8 quantisation (per channel) of the optimised graph; the export
  publishes it only when its accuracy on the test split passed the gate (see ``export.py``).
* ``openvino``: ``model.ov.xml`` + ``model.ov.bin``, the model converted from torch to OpenVINO IR (attention kept as
  one ScaledDotProductAttention op, GELU and LayerNorm fused by the CPU plugin), run in fp32.
* ``openvino_bf16``: the same IR with the CPU plugin's inference precision set to bfloat16 (no file of its own);
  refused at load on CPUs without AMX or AVX512-BF16. Gated like torch_bf16.
* ``openvino_int8``: ``model.ov_int8.xml`` + ``.bin``, static INT8 of that IR (weights and activations, NNCF
  post-training quantisation calibrated on unlabelled pairs, the transformer preset: softmax and LayerNorm stay in
  float), with the remaining float operations in bfloat16 where the CPU has it and fp32 elsewhere. The fastest
  backend measured on 2 cores with AVX512-BF16 (``benchmarks/serving.py``). Gated like onnx_int8.
* ``auto``: the fastest of the backends the export published, timed at load on this machine with a probe request
  (which one wins depends on the CPU's instruction set, so no fixed order is right everywhere).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from relevance_distill.devices import container_cpus, cpu_has_native_bf16

BACKEND_FILES = {"onnx": "model.onnx", "onnx_optimized": "model.opt.onnx", "onnx_int8": "model.int8.onnx",
                 "openvino": "model.ov.xml", "openvino_int8": "model.ov_int8.xml"}
#: The weights file OpenVINO reads next to its graph (``openvino.save_model`` names it after the .xml).
OPENVINO_WEIGHTS = "model.ov.bin"
#: Files a backend reads besides its graph.
BACKEND_WEIGHTS = {"openvino": OPENVINO_WEIGHTS, "openvino_int8": "model.ov_int8.bin"}
#: bf16 backends run the fp32 backend's weights in bfloat16 and have no file of their own.
BFLOAT16_OF = {"torch_bf16": "torch", "openvino_bf16": "openvino"}
BACKENDS = ("torch", "torch_bf16", "onnx", "onnx_optimized", "onnx_int8", "openvino", "openvino_bf16", "openvino_int8")
#: Backends whose answers may differ from fp32's; the export gates each on the gold test split.
REDUCED_PRECISION = ("torch_bf16", "onnx_int8", "openvino_bf16", "openvino_int8")
AUTO = "auto"


def backend_files(name: str) -> list[str]:
    """The files of backend NAME in an export: its graph and any weights beside it (none for torch and the bf16
    backends, which run another backend's files)."""
    if name not in BACKEND_FILES:
        return []
    return [BACKEND_FILES[name], *([BACKEND_WEIGHTS[name]] if name in BACKEND_WEIGHTS else [])]


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (e.g. bf16 on a CPU without bf16 instructions)."""


class Backend(Protocol):
    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Logits [N, labels] for int64 ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape [N, T]."""


class TorchBackend:
    def __init__(self, directory: Path, threads: int, bfloat16: bool = False):
        import torch
        from transformers import AutoModelForSequenceClassification

        if bfloat16 and not cpu_has_native_bf16():
            raise BackendUnavailable("torch_bf16 needs a CPU with bf16 instructions (AMX or AVX512-BF16) that oneDNN "
                                     "may use; this one only emulates bf16, several times slower than fp32: serve "
                                     "torch (or an INT8 backend) here")
        torch.set_num_threads(threads)
        self.model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
        if bfloat16:
            self.model = self.model.to(torch.bfloat16)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(**{name: torch.from_numpy(array) for name, array in batch.items()}).logits.float().numpy()


class OnnxBackend:
    def __init__(self, path: Path, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [item.name for item in self.session.get_inputs()]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["logits"], {name: batch[name] for name in self.inputs})[0]


def openvino_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin can run bfloat16 here (AMX or AVX512-BF16)."""
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoBackend:
    def __init__(self, path: Path, threads: int, bfloat16: bool = False):
        import threading

        import openvino

        core = openvino.Core()
        if bfloat16 and not openvino_has_bf16():
            raise BackendUnavailable("openvino_bf16 needs a CPU with bf16 instructions (AMX or AVX512-BF16); this one "
                                     "has none: serve 'openvino' or 'auto'")
        # LATENCY: one stream using every thread, as one request at a time needs.
        compiled = core.compile_model(core.read_model(str(path)), "CPU", {
            "INFERENCE_PRECISION_HINT": "bf16" if bfloat16 else "f32", "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads})
        self.inputs = [port.get_any_name() for port in compiled.inputs]
        self.output = compiled.outputs[0]
        self.request = compiled.create_infer_request()
        # One reused infer request holds its buffers between calls; the lock keeps it to one caller at a time.
        self.lock = threading.Lock()

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        with self.lock:
            return self.request.infer({name: batch[name] for name in self.inputs})[self.output].copy()


def published_backends(info: dict[str, Any], directory: Path) -> list[str]:
    """Backends the export in DIRECTORY published (exports made before backends were recorded: torch, and onnx
    when its file is there)."""
    if "backends" in info:
        return [name for name in BACKENDS if info["backends"].get(name, {}).get("published")]
    return ["torch"] + (["onnx"] if (directory / BACKEND_FILES["onnx"]).is_file() else [])


def load_backend(name: str, directory: Path, threads: int | None = None) -> Backend:
    """Backend NAME (not ``auto``) for the export in DIRECTORY with THREADS intra-op threads (default: the
    container's CPUs)."""
    threads = threads or container_cpus()
    base = BFLOAT16_OF.get(name, name)
    if base == "torch":
        return TorchBackend(directory, threads, bfloat16=name in BFLOAT16_OF)
    if base not in BACKEND_FILES:
        raise ValueError(f"unknown backend {name!r}; allowed: {list(BACKENDS)}")
    path = directory / BACKEND_FILES[base]
    if not path.is_file():
        flag = "--openvino" if base.startswith("openvino") else "--onnx"
        needs = {"onnx_int8": " --quantize and a test split that passes the INT8 gate",
                 "openvino_int8": " --openvino-int8, --calibration pairs and a test split that passes the INT8 gate"}
        raise FileNotFoundError(f"backend {name!r} needs {path.name} in the export ({directory}); export with {flag}"
                                + needs.get(name, ""))
    if base == "openvino":
        return OpenVinoBackend(path, threads, bfloat16=name in BFLOAT16_OF)
    if base == "openvino_int8":
        # The INT8 IR's float rest runs in bfloat16 where the CPU has it, else in fp32 (never refused).
        return OpenVinoBackend(path, threads, bfloat16=openvino_has_bf16())
    return OnnxBackend(path, threads)


def batched_logits(backend: Backend, views: list[Any], pad_id: int, sub_batch_size: int) -> np.ndarray:
    """Logits for encoded pairs in their given order. Pairs are sorted by length and run in sub-batches of at most
    SUB_BATCH_SIZE, each padded only to its own longest pair, so a few long services do not make every short pair
    pay for their padding."""
    from relevance_distill.encoding import collate_arrays

    if len(views) <= sub_batch_size:
        return backend.logits(collate_arrays(views, pad_id))
    order = np.argsort([len(view.input_ids) for view in views], kind="stable")
    parts = [backend.logits(collate_arrays([views[i] for i in order[start:start + sub_batch_size]], pad_id))
             for start in range(0, len(views), sub_batch_size)]
    logits = np.empty((len(views), parts[0].shape[1]), dtype=np.float32)
    logits[order] = np.concatenate(parts)
    return logits


def fastest_backend(names: list[str], directory: Path, threads: int | None, probe: list[Any], pad_id: int,
                    sub_batch_size: int, repeats: int = 3) -> tuple[str, Backend, dict[str, float]]:
    """Load each of NAMES, time it on the encoded PROBE request (median of REPEATS after one warm-up) and keep the
    fastest; returns its name, the loaded backend and every median in milliseconds. A backend this machine cannot
    run (``BackendUnavailable``) is skipped and logged."""
    import logging
    import time

    best: tuple[str, Backend] | None = None
    medians: dict[str, float] = {}
    for name in names:
        try:
            backend = load_backend(name, directory, threads)
        except BackendUnavailable as reason:
            logging.getLogger(__name__).warning("auto skips %s: %s", name, reason)
            continue
        batched_logits(backend, probe, pad_id, sub_batch_size)
        timings = []
        for _ in range(repeats):
            began = time.perf_counter()
            batched_logits(backend, probe, pad_id, sub_batch_size)
            timings.append(time.perf_counter() - began)
        medians[name] = 1000 * float(np.median(timings))
        if best is None or medians[name] < medians[best[0]]:
            best = (name, backend)
    if best is None:
        raise ValueError(f"no backend to choose from in {directory}")
    return best[0], best[1], medians
