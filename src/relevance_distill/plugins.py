"""Dataset plugins: what a dataset that knows its own rules can offer the teacher, behind one small interface.

A labelled file is all the teacher needs. A dataset that can also *compute* labels (a rule engine, a simulator) or
whose reasoning chains have a grammar of their own can offer more through a :class:`DatasetPlugin`, which a config
names (``SFTStageConfig.dataset_plugin``, ``RewardConfig.dataset_plugin``):

* ``counterfactual_pairs``: extra SFT pairs, each a gold pair with its item edited so that one check flips, labelled
  again by the dataset's rules;
* ``entity_groups``: interchangeable entities that augmented SFT copies may rename consistently;
* ``numbers`` / ``shift_numbers``: how to read and shift the numbers of a chain without breaking steps that restate
  them in another form;
* ``stated_text``: a chain with such steps written back as the facts they restate (the reward's faithfulness).

``none`` (the default) is the plain-text behaviour every dataset gets. The built-in synthetic world registers
``builtin``; a user's own plugin is named as ``package.module:attribute``. The teacher, annotation, students,
evaluation and serving never import a dataset package: they load plugins by name here.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Protocol, runtime_checkable

from relevance_distill.schemas import QueryServicePair

_NUMBER = re.compile(r"\d+")


@runtime_checkable
class DatasetPlugin(Protocol):
    name: str
    counterfactual_checks: tuple[str, ...]  # what counterfactual_pairs can flip (empty: it offers none)

    def entity_groups(self) -> list[list[list[str]]]: ...

    def counterfactual_pairs(self, pairs: list[QueryServicePair], seed: int,
                             checks: list[str]) -> list[QueryServicePair]: ...

    def numbers(self, text: str) -> list[int]: ...

    def shift_numbers(self, text: str, offset: int) -> str: ...

    def stated_text(self, text: str) -> str: ...


class PlainText:
    """No rules beyond the text: no counterfactuals, no entity groups, every number read and shifted as written."""

    name = "none"
    counterfactual_checks: tuple[str, ...] = ()

    def entity_groups(self) -> list[list[list[str]]]:
        return []

    def counterfactual_pairs(self, pairs: list[QueryServicePair], seed: int,
                             checks: list[str]) -> list[QueryServicePair]:
        require_checks(self, checks)
        return []

    def numbers(self, text: str) -> list[int]:
        return [int(n) for n in _NUMBER.findall(text)]

    def shift_numbers(self, text: str, offset: int) -> str:
        return _NUMBER.sub(lambda m: str(int(m.group(0)) + offset), text)

    def stated_text(self, text: str) -> str:
        return text


# Registered names; any other name must be 'package.module:attribute' (a DatasetPlugin instance).
REGISTERED = {"none": "relevance_distill.plugins:PLAIN_TEXT",
              "builtin": "relevance_distill.builtin_world.plugin:PLUGIN"}
PLAIN_TEXT = PlainText()


@cache
def load_plugin(name: str) -> DatasetPlugin:
    """The plugin NAME names: a registered name or 'package.module:attribute'."""
    target = REGISTERED.get(name, name)
    if ":" not in target:
        raise ValueError(f"unknown dataset plugin {name!r}; allowed: {sorted(REGISTERED)} or 'package.module:attribute'")
    module_name, attribute = target.split(":", 1)
    try:
        plugin = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"dataset plugin {name!r} cannot be loaded ({error}); allowed: {sorted(REGISTERED)} or an "
                         "importable 'package.module:attribute'") from None
    if not isinstance(plugin, DatasetPlugin):
        raise ValueError(f"dataset plugin {name!r} ({target}) does not implement relevance_distill.plugins.DatasetPlugin")
    return plugin


def require_checks(plugin: DatasetPlugin, checks: list[str] | tuple[str, ...]) -> None:
    """Refuses CHECKS unless each is one of PLUGIN's counterfactual checks, at most once."""
    unknown = [check for check in checks if check not in plugin.counterfactual_checks]
    if unknown or len(set(checks)) != len(checks):
        raise ValueError(f"counterfactual checks {list(checks)!r}: each must be one of dataset plugin "
                         f"{plugin.name!r}'s {list(plugin.counterfactual_checks)}, at most once (unknown: {unknown})")
