"""Membership inference attacks behind one interface; ``ATTACKS`` maps names to factories.

Adding an attack: write one module with a class implementing :class:`~.base.Attack` and
register its factory here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..validation import ParameterError
from .base import Attack, AttackOutput, MembershipSet
from .classifier import CLASSIFIER_ATTACKS
from .threshold import THRESHOLD_ATTACKS

ATTACKS: dict[str, Callable[[], Attack]] = {**THRESHOLD_ATTACKS, **CLASSIFIER_ATTACKS}

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackOutput",
    "MembershipSet",
    "check_attack_names",
    "run_attacks",
]


def check_attack_names(names: Sequence[str]) -> list[str]:
    """The requested attack names, validated (``attacks.names``)."""
    if isinstance(names, str) or not names:
        raise ParameterError(
            f"attacks.names must be a non-empty list drawn from {list(ATTACKS)}, got {names!r}"
        )
    unknown = [name for name in names if name not in ATTACKS]
    if unknown:
        raise ParameterError(f"attacks.names has unknown attacks {unknown}; known: {list(ATTACKS)}")
    return list(names)


def run_attacks(
    names: Sequence[str], shadows: list[MembershipSet], target: MembershipSet
) -> dict[str, AttackOutput]:
    """Calibrate each named attack on the shadows and score the target."""
    return {name: ATTACKS[name]().fit(shadows).score(target) for name in check_attack_names(names)}
