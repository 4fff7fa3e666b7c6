"""One teacher step in every worker of a launch: what a pipeline step given several GPUs runs.

``run_step`` runs the step in this process when it has one device (or already is a worker); with more it starts one
worker per GPU under torch's elastic launcher (``distributed.launch``), hands them the step's arguments through a file
and returns what the main worker wrote back. ``python -m relevance_distill.teacher.worker REQUEST RESULT`` is the
worker's entry point, on one node or, under a Kubeflow Trainer TrainJob, on several (``teacher/trainjob.py``).
"""

from __future__ import annotations

import json
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

from relevance_distill import storage
from relevance_distill.devices import requested_gpus
from relevance_distill.distributed import is_main, launch, world_size
from relevance_distill.teacher.stages import (
    cpt_step,
    preference_step,
    reward_step,
    sft_step,
)

STEPS = {"cpt": cpt_step, "sft": sft_step, "reward": reward_step, "preference": preference_step}


def run_step(step: str, *args: Any, processes: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """STEP (cpt, sft, reward, preference) called with ARGS and KWARGS in PROCESSES workers (default: one per GPU this
    step was given, ``devices.requested_gpus``; 1 runs here). A worker that dies fails the step; running it again (a
    pipeline retry) resumes from the last checkpoint the main worker published."""
    if step not in STEPS:
        raise ValueError(f"unknown teacher step {step!r}; allowed: {sorted(STEPS)}")
    processes = processes or max(1, requested_gpus())
    if processes <= 1 or world_size() > 1:
        return STEPS[step](*args, **kwargs)
    with tempfile.TemporaryDirectory(prefix=f"relevance-distill-{step}-launch-") as directory:
        request, result = Path(directory) / "request.pkl", Path(directory) / "result.pkl"
        # Written and read by this package alone, in one container: the step's own configs and pairs.
        request.write_bytes(pickle.dumps((step, args, kwargs)))
        code = launch(__name__, [str(request), str(result)], processes)
        if code != 0 or not result.is_file():
            raise RuntimeError(f"teacher {step} failed in its {processes} workers (launcher exit code {code}); each "
                               "worker's error is in the log above")
        return pickle.loads(result.read_bytes())


def run_teacher_step(step: str, *args: Any, trainjob_json: str = "", image: str = "", work_uri: str = "",
                     **kwargs: Any) -> dict[str, Any]:
    """What a teacher component runs: STEP in a Kubeflow Trainer TrainJob on several nodes when TRAINJOB_JSON (a
    TrainJobConfig) is given, its IMAGE running the workers and WORK_URI/trainjob (the step's output prefix) carrying
    request and result; otherwise in this pod, one worker per GPU it was given (``run_step``)."""
    if not trainjob_json:
        return run_step(step, *args, **kwargs)
    from relevance_distill.config import TrainJobConfig, parse_config
    from relevance_distill.teacher.trainjob import TrainJobError, run_step_on_nodes

    if not image:
        raise TrainJobError("a TrainJob needs the trainer image its nodes run: pass image=… (the compiled pipeline "
                            "passes the trainer image it names)")
    config = parse_config(TrainJobConfig, json.loads(trainjob_json), source="teacher_trainjob")
    return run_step_on_nodes(step, args, kwargs, storage.join(work_uri, "trainjob"), image, config)


def main(request: str, result: str) -> None:
    """REQUEST and RESULT are local paths (one node) or s3:// URIs (a TrainJob's nodes, ``teacher/trainjob.py``)."""
    step, args, kwargs = pickle.loads(storage.read_bytes(request))
    output = STEPS[step](*args, **kwargs)
    if is_main():
        storage.write_bytes(result, pickle.dumps(output))


if __name__ == "__main__":
    main(*sys.argv[1:3])
