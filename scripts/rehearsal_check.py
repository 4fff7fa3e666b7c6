"""The rehearsal's last checks (run by scripts/rehearsal.sh after `relevance-distill run --runner docker`):

1. the predictor image started exactly as manifests/base's ServingRuntime starts it (its args with the model name
   filled in, its port, its environment, the image's non-root user, a read-only root filesystem with writable
   tmpfs only for /tmp and the caches, the exported model in /mnt/models as KServe's storage initializer leaves it)
   answers V1 and V2 with the same labels;
2. the Docker daemon's own event log shows containers started from the trainer, tools and predictor images;
3. image sizes and the rehearsal's figures go into WORKDIR/summary.json under "rehearsal".
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import time
from pathlib import Path

import docker
import httpx
import yaml

from components.images import image
from relevance_distill.rollout.deploy import PACKAGED_MANIFESTS
from relevance_distill.rollout.isvc import InferenceServiceConfig

SERVICE = {"title": "Golden Hotpot", "category": "Food > Hotpot", "description": "Spicy hotpot in Chaoyang"}
REQUIRED_IMAGES = ("trainer", "tools", "predictor")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _servingruntime() -> dict:
    return yaml.safe_load((PACKAGED_MANIFESTS / "base" / "servingruntime.yaml").read_text(encoding="utf-8"))


def check_predictor(client: docker.DockerClient, model_dir: Path, name: str, timeout_s: float = 180) -> dict:
    runtime = _servingruntime()
    spec = runtime["spec"]["containers"][0]
    args = [argument.replace("{{.Name}}", name) for argument in spec["args"]]
    # The container's security settings and writable mounts as the ServingRuntime declares them.
    security = spec["securityContext"]
    empty_dirs = {volume["name"] for volume in runtime["spec"].get("volumes", []) if "emptyDir" in volume}
    user = security.get("runAsUser")
    tmpfs = {mount["mountPath"]: f"uid={user}" if user else "" for mount in spec.get("volumeMounts", [])
             if mount["name"] in empty_dirs}
    port = spec["ports"][0]["containerPort"]
    for busy in (port, 8081):
        if not _port_free(busy):
            raise RuntimeError(f"port {busy} on 127.0.0.1 is in use; the predictor listens there as in the cluster")
    environment = {item["name"]: item["value"] for item in spec.get("env", [])}
    container = client.containers.run(
        image("predictor"), command=args, detach=True, network_mode="host", environment=environment,
        user=str(user) if user else None, read_only=security.get("readOnlyRootFilesystem", False), tmpfs=tmpfs,
        cap_drop=security.get("capabilities", {}).get("drop", []),
        security_opt=[] if security.get("allowPrivilegeEscalation", True) else ["no-new-privileges"],
        volumes={str(model_dir.resolve()): {"bind": "/mnt/models", "mode": "ro"}})
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            container.reload()
            if container.status == "exited":
                raise RuntimeError("the predictor exited while starting:\n" + container.logs().decode()[-3000:])
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"the predictor was not ready within {timeout_s} s:\n" + container.logs().decode()[-3000:])
        ready_s = round(time.monotonic() - started, 1)
        queries = ["hotpot in Chaoyang", "朝阳 火锅", "dog grooming"]
        v1 = httpx.post(f"{base}/v1/models/{name}:predict", timeout=30,
                        json={"instances": [{"query": q, "service": SERVICE} for q in queries]})
        v1.raise_for_status()
        service_text = " | ".join(SERVICE.values())
        v2 = httpx.post(f"{base}/v2/models/{name}/infer", timeout=30, json={"inputs": [
            {"name": "query", "datatype": "BYTES", "shape": [len(queries)], "data": queries},
            {"name": "service_text", "datatype": "BYTES", "shape": [len(queries)], "data": [service_text] * len(queries)}]})
        v2.raise_for_status()
        v1_labels = [prediction["label"] for prediction in v1.json()["predictions"]]
        v2_labels = next(output["data"] for output in v2.json()["outputs"] if output["name"] == "label")
        user = container.exec_run(["id", "-u"]).output.decode().strip()
        write_probe = container.exec_run(["touch", "/opt/probe"]).exit_code
        return {"image": image("predictor"), "args": args, "port": port, "ready_seconds": ready_s, "uid": user,
                "root_filesystem_read_only": write_probe != 0, "v1_labels": v1_labels, "v2_labels": v2_labels,
                "model_version": v1.headers.get("x-model-version")}
    finally:
        container.stop(timeout=20)
        container.remove()


def started_images(since: int) -> dict[str, int]:
    """Containers started since ``since`` (Unix seconds) per image, from the daemon's event log."""
    output = subprocess.run(["docker", "events", "--since", str(since), "--until", str(int(time.time())),
                             "--filter", "event=start", "--format", "{{.From}}"],
                            check=True, capture_output=True, text=True, timeout=60).stdout
    counts: dict[str, int] = {}
    for line in output.split():
        counts[line] = counts.get(line, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--since", type=int, required=True, help="Unix time the rehearsal run started.")
    parser.add_argument("--build-times", type=Path, help="'IMAGE SECONDS' lines from scripts/build-images.sh.")
    args = parser.parse_args()
    client = docker.from_env()
    predictor = check_predictor(client, args.workdir / "model", InferenceServiceConfig().name)
    if predictor["v1_labels"] != predictor["v2_labels"] or predictor["uid"] in {"", "0"}:
        raise SystemExit(f"predictor check failed: {predictor}")
    if not predictor["root_filesystem_read_only"]:
        raise SystemExit("predictor check failed: the root filesystem was writable")
    events = started_images(args.since)
    missing = [name for name in REQUIRED_IMAGES if not any(started.startswith(image(name).rsplit(":", 1)[0])
                                                           for started in events)]
    if missing:
        raise SystemExit(f"no container was started from {missing}; the daemon saw {events}")
    sizes = {name: client.images.get(image(name)).attrs["Size"] for name in ("trainer", "annotator", "predictor", "tools")
             if client.images.list(name=image(name))}
    builds = {}
    if args.build_times and args.build_times.is_file():
        for line in args.build_times.read_text().splitlines():
            name, seconds = line.split()
            builds[name] = int(seconds)
    summary_path = args.workdir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["rehearsal"] = {"predictor": predictor, "containers_started": events,
                            "image_bytes": sizes, "build_seconds": builds}
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"predictor {predictor['image']} ready in {predictor['ready_seconds']} s as uid {predictor['uid']}, read-only "
          f"root filesystem; V1 == V2 labels {predictor['v1_labels']}")
    print("containers started per image: " + ", ".join(f"{name} × {count}" for name, count in sorted(events.items())))
    print("image sizes: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
