"""The one place that names container images: which image each component runs in, and what each image holds.

The registry and tag can be set at compile time (RELEVANCE_DISTILL_REGISTRY, RELEVANCE_DISTILL_IMAGE_TAG);
`make images REGISTRY=… TAG=…` builds and tags the same names.
"""

from __future__ import annotations

import os

REGISTRY = os.environ.get("RELEVANCE_DISTILL_REGISTRY", "relevance-distill")
TAG = os.environ.get("RELEVANCE_DISTILL_IMAGE_TAG", "0.1.0")

# The non-root user every image runs as (`useradd --uid` and `USER` in each Dockerfile; a test checks): the pipeline's
# tasks and the ServingRuntime run as this UID with runAsNonRoot.
IMAGE_UID = 1000

# image -> pyproject extras its Dockerfile installs (tests parse the Dockerfiles and check this).
IMAGE_EXTRAS: dict[str, tuple[str, ...]] = {
    "trainer": ("train", "pipeline"),
    "annotator": ("annotate", "train", "pipeline"),
    "predictor": ("serve",),
    "tools": ("pipeline",),
}

COMPONENT_IMAGES: dict[str, str] = {
    "prepare_data": "tools",
    "teacher_cpt": "trainer",
    "teacher_sft": "trainer",
    "reward_model": "trainer",
    "teacher_preference": "trainer",
    "use_existing_model": "tools",
    "check_teacher": "tools",
    "skip_annotation": "tools",
    "annotate_shard": "annotator",
    "merge_annotations": "tools",
    "train_student": "trainer",
    "evaluate_student": "trainer",
    "gate": "tools",
    "export_student": "trainer",
    "deploy_canary": "tools",
    "analyze_ab": "tools",
    "promote_or_rollback": "tools",
}


# Images with a CUDA variant (`make images VARIANT=cuda`, tagged TAG-cuda): the GPU steps' images. The trainer's adds
# vLLM (the SFT step generates rationales with it on its GPU).
CUDA_IMAGES: dict[str, tuple[str, ...]] = {"trainer": ("train", "pipeline", "annotate"),
                                           "annotator": ("annotate", "train", "pipeline")}


def image(name: str, variant: str = "cpu") -> str:
    if name not in IMAGE_EXTRAS:
        raise ValueError(f"unknown image {name!r}; allowed: {sorted(IMAGE_EXTRAS)}")
    if variant == "cuda":
        if name not in CUDA_IMAGES:
            raise ValueError(f"image {name!r} has no CUDA variant; those with one: {sorted(CUDA_IMAGES)}")
        return f"{REGISTRY}/{name}:{TAG}-cuda"
    if variant != "cpu":
        raise ValueError(f"unknown image variant {variant!r}; allowed: ['cpu', 'cuda']")
    return f"{REGISTRY}/{name}:{TAG}"


def component_image(component: str) -> str:
    if component not in COMPONENT_IMAGES:
        raise ValueError(f"unknown component {component!r}; allowed: {sorted(COMPONENT_IMAGES)}")
    return image(COMPONENT_IMAGES[component])
