"""Compile both pipelines and every component to YAML (``relevance-distill compile --out DIR``)."""

from __future__ import annotations

import importlib
from pathlib import Path

from kfp import compiler

from components.images import COMPONENT_IMAGES
from pipelines.ab_analysis import build_ab_analysis_pipeline
from pipelines.distillation import build_distillation_pipeline
from relevance_distill.config import KubernetesConfig, cluster_config

COMPONENTS_DIR = Path(__file__).resolve().parents[1] / "components"


def built_components() -> dict[str, object]:
    found = {}
    for name in COMPONENT_IMAGES:
        if (COMPONENTS_DIR / name / "component.py").is_file():
            module = importlib.import_module(f"components.{name}.component")
            found[name] = getattr(module, name)
    return found


def compile_all(out_dir: str | Path, cluster: KubernetesConfig | None = None, component_yaml: bool = True) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in (("distillation_pipeline", build_distillation_pipeline), ("ab_analysis_pipeline", build_ab_analysis_pipeline)):
        path = out / f"{name}.yaml"
        compiler.Compiler().compile(build(cluster), str(path))
        written.append(path)
    if component_yaml:
        for name, component in built_components().items():
            path = COMPONENTS_DIR / name / "component.yaml"
            compiler.Compiler().compile(component, str(path))
            written.append(path)
    return written


def compile_cluster_profile(out_dir: str | Path, profile: str) -> Path:
    """The distillation pipeline compiled for cluster profile PROFILE (``config.CLUSTER_PROFILES``), written beside
    the CPU one as ``distillation_pipeline.PROFILE.yaml``: the same pipeline function, other resources."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"distillation_pipeline.{profile}.yaml"
    compiler.Compiler().compile(build_distillation_pipeline(cluster_config(profile)), str(path))
    return path
