"""Times gRPC (Open Inference Protocol) requests with tritonclient.grpc in its own process: its copy of the
protocol's .proto cannot share a descriptor pool with KServe's, which the benchmark process has loaded.

    python benchmarks/_grpc_timings.py HOST:PORT REQUESTS QUERIES_JSON SERVICES_JSON   → JSON list of seconds
"""

import json
import sys
import time

import numpy as np
import tritonclient.grpc as triton_grpc

url, repeats, queries, services = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
client = triton_grpc.InferenceServerClient(url=url)
inputs = []
for name, values in (("query", queries), ("service_text", services)):
    tensor = triton_grpc.InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array([value.encode() for value in values], dtype=np.object_))
    inputs.append(tensor)
for _ in range(3):
    client.infer("relevance", inputs)
timings = []
for _ in range(repeats):
    began = time.perf_counter()
    client.infer("relevance", inputs)
    timings.append(time.perf_counter() - began)
client.close()
print(json.dumps(timings))
