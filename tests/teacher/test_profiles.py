"""Teacher profiles: the production config loads and bad values are refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relevance_distill.config import ConfigError
from relevance_distill.teacher.profiles import TEACHER_PROFILES, teacher_config

PRODUCTION = Path(__file__).resolve().parents[2] / "src" / "relevance_distill" / "teacher" / "configs" / "production-qwen2.5-7b.yaml"


def test_builtin_profiles_validate():
    for name in TEACHER_PROFILES:
        config = teacher_config(name)
        assert config.profile == name and config.cpt.init == "tiny"


def test_strong_is_the_deep_teacher_with_long_cpt_and_augmented_sft():
    from relevance_distill.builtin_world.generate import DISTRICTS
    from relevance_distill.plugins import load_plugin

    deep, strong = teacher_config("deep"), teacher_config("strong")
    assert strong.cpt.max_steps == 10 * deep.cpt.max_steps and strong.sft.learning_rate == deep.sft.learning_rate / 3
    assert strong.sft.max_steps == 2 * deep.sft.max_steps
    assert strong.sft.augment_copies == 7 and strong.sft.number_shift == 100
    # The built-in world's recipe: its plugin renames every district (both languages) and reads its chains.
    assert strong.sft.dataset_plugin == strong.reward.dataset_plugin == "builtin" and not strong.sft.entity_swaps
    assert load_plugin(strong.sft.dataset_plugin).entity_groups() == [[list(names) for names in DISTRICTS]]
    assert deep.sft.dataset_plugin == deep.reward.dataset_plugin == "none"  # profiles a user's data may get
    # The benchmark recipes train their whole budget (no give-up); the demo family gives up when collapsed.
    assert strong.sft.give_up_checks == 0 and deep.sft.give_up_checks == teacher_config("demo").sft.give_up_checks == 2
    changed = {"max_steps", "learning_rate", "augment_copies", "dataset_plugin", "number_shift", "give_up_checks"}
    assert {k: v for k, v in strong.sft.model_dump().items() if k not in changed} == \
        {k: v for k, v in deep.sft.model_dump().items() if k not in changed}


def test_counterfactual_is_the_strong_teacher_six_layers_deep_with_counterfactual_pairs_for_every_check():
    from relevance_distill.builtin_world.generate import COUNTERFACTUAL_CHECKS

    strong, counterfactual = teacher_config("strong"), teacher_config("counterfactual")
    assert counterfactual.cpt.tiny_layers == counterfactual.sft.tiny_layers == 6 != strong.sft.tiny_layers
    assert counterfactual.sft.counterfactuals == list(COUNTERFACTUAL_CHECKS) and not strong.sft.counterfactuals
    changed = {"tiny_layers", "counterfactuals"}
    for step in ("cpt", "sft"):
        ours, theirs = getattr(counterfactual, step).model_dump(), getattr(strong, step).model_dump()
        assert {k: v for k, v in ours.items() if k not in changed} == {k: v for k, v in theirs.items() if k not in changed}


def test_production_config_loads():
    config = teacher_config(str(PRODUCTION))
    assert config.sft.lora and config.sft.precision == "bf16" and config.preference.beta == 0.1
    assert config.cpt.peft_config().r == 64


@pytest.mark.parametrize("path, value, message", [
    (("sft", "precision"), "fp8", "sft.precision"),
    (("preference", "samples_per_prompt"), 1, "preference.samples_per_prompt"),
    (("cpt", "learning_rate"), -1, "cpt.learning_rate"),
    (("reward", "colour"), "red", "reward.colour: unknown key"),
])
def test_production_config_refuses_bad_values(tmp_path, path, value, message):
    data = yaml.safe_load(PRODUCTION.read_text())
    data[path[0]][path[1]] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        teacher_config(str(bad))


def test_unknown_profile_lists_allowed():
    with pytest.raises(ConfigError, match="allowed"):
        teacher_config("huge")
