"""Where artifacts live: the paths under a run's ``artifacts_uri`` and the files of an exported model.

The one place that knows them: the pipelines, the local runner, export and the predictor read the names from here.
It imports nothing of the package, so everything can depend on it.
"""

from __future__ import annotations

# -- an exported model directory (what the predictor loads) ----------------------------------------------
EXPORT_INFO = "relevance_distill.json"  # how to serve it: backends, views, decoding
LABEL_SCHEME_FILE = "label_scheme.json"
METRICS_FILE = "metrics.json"

# -- a run's artifacts under artifacts_uri -----------------------------------------------------------------
RAW = "raw"  # the built-in data as generated
INPUTS = "inputs"  # the user's files as staged by the local run
AB_EVENTS = "ab/events.jsonl"  # the A/B event log the local replay writes
PREPARED = "prepared"
UNLABELED_FILE = "unlabeled.jsonl"  # the search-log pairs the teacher annotates, minus dev/test queries
TEST_FILE = "test.jsonl"
VALIDATION_FILE = "validation.json"
TEACHER = "teacher"
TEACHER_STEP_DIRS = {"cpt": "cpt", "sft": "sft", "reward": "reward", "preference": "dpo"}
MODEL_DIR = "model"  # a teacher step publishes its model here, beside its checkpoints
ANNOTATIONS = "annotations"
MERGED = "merged"
STATS_FILE = "stats.json"
EVALUATION = "evaluation"
EVALUATION_SUMMARY = "summary.json"
ROLLOUT = "rollout"
MODELS = "models"


def under(root: str, *parts: str) -> str:
    """ROOT/PART/…; also for KFP pipeline parameters, whose placeholders concatenate as plain strings."""
    return "/".join([str(root).rstrip("/"), *parts])


def prepared_uri(root: str) -> str:
    return under(root, PREPARED)


def unlabeled_uri(root: str) -> str:
    return under(root, PREPARED, UNLABELED_FILE)


def teacher_step_uri(root: str, step: str) -> str:
    """Where teacher STEP (cpt, sft, reward, preference) writes its checkpoints and its model."""
    if step not in TEACHER_STEP_DIRS:
        raise ValueError(f"unknown teacher step {step!r}; allowed: {sorted(TEACHER_STEP_DIRS)}")
    return under(root, TEACHER, TEACHER_STEP_DIRS[step])


def teacher_model_uri(root: str, step: str) -> str:
    return under(teacher_step_uri(root, step), MODEL_DIR)


def annotations_uri(root: str) -> str:
    return under(root, ANNOTATIONS)


def merged_annotations_uri(root: str) -> str:
    return under(root, ANNOTATIONS, MERGED)


def evaluation_uri(root: str) -> str:
    return under(root, EVALUATION)


def rollout_uri(root: str) -> str:
    return under(root, ROLLOUT)


def ab_events_uri(root: str) -> str:
    return under(root, AB_EVENTS)


def model_uri(root: str, name: str, version: str) -> str:
    """An exported model version: ROOT/models/NAME/VERSION."""
    return under(root, MODELS, name, version)
