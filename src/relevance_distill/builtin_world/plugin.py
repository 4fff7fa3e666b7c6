"""The built-in world as a dataset plugin (registered as ``builtin`` in ``relevance_distill.plugins``)."""

from __future__ import annotations

from relevance_distill.builtin_world.generate import (
    COUNTERFACTUAL_CHECKS,
    DISTRICTS,
    compared_numbers,
    counterfactual_pairs,
    shift_numbers,
    without_digit_steps,
)
from relevance_distill.plugins import require_checks
from relevance_distill.schemas import QueryServicePair


class BuiltinWorld:
    """Counterfactual pairs labelled by ``judge``; districts as interchangeable entities; chains whose prices are
    compared digit by digit (``generate.digit_comparison``), read and shifted as the two numbers they compare."""

    name = "builtin"
    counterfactual_checks: tuple[str, ...] = COUNTERFACTUAL_CHECKS

    def entity_groups(self) -> list[list[list[str]]]:
        return [[list(names) for names in DISTRICTS]]

    def counterfactual_pairs(self, pairs: list[QueryServicePair], seed: int,
                             checks: list[str]) -> list[QueryServicePair]:
        require_checks(self, checks)
        return counterfactual_pairs(pairs, seed, checks)

    def numbers(self, text: str) -> list[int]:
        return compared_numbers(text)

    def shift_numbers(self, text: str, offset: int) -> str:
        return shift_numbers(text, offset)

    def stated_text(self, text: str) -> str:
        return without_digit_steps(text)


PLUGIN = BuiltinWorld()
