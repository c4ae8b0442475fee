"""Membership inference attacks behind one interface; ``ATTACKS`` maps names to factories.

Adding an attack: write one module with a class implementing :class:`~.base.Attack` and
register its factory here. A factory's keyword arguments are the attack's options, set in
the parameters as ``attacks.<name>: {option: value}``.

Two kinds of attack run in the audit only (``AUDIT_ONLY_ATTACKS``). The online attacks
(``ONLINE_ATTACKS``) compare each sample's IN with its OUT reference models, so they need a
target whose samples some references trained on: the audit, where every model is the target
in turn; the main pipelines' victim has only OUT references. ``label_noise`` queries the
models on noisy inputs, which only the audit records. The main pipelines' ``attacks.names``
refuses them (``check_attack_names(..., audit=True)`` allows them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..validation import ParameterError, check_known_keys
from .base import Attack, AttackOutput, MembershipSet, References
from .classifier import CLASSIFIER_ATTACKS
from .label_noise import LabelNoise
from .lira import MIN_SHADOWS, LiRA
from .lira_online import OnlineLiRA
from .rmia import RMIA
from .rmia_online import OnlineRMIA
from .samia import SAMIA
from .threshold import THRESHOLD_ATTACKS

ATTACKS: dict[str, Callable[..., Attack]] = {
    **THRESHOLD_ATTACKS,
    **CLASSIFIER_ATTACKS,
    "samia": SAMIA,
    "lira": LiRA,
    "rmia": RMIA,
    "lira_online": OnlineLiRA,
    "rmia_online": OnlineRMIA,
    "label_noise": LabelNoise,
}
# Attacks that need IN reference models for the target's samples.
ONLINE_ATTACKS = ("lira_online", "rmia_online")
AUDIT_ONLY_ATTACKS = (*ONLINE_ATTACKS, "label_noise")
# The attacks a victim with only OUT references and stored logits can meet: the main suite.
OFFLINE_ATTACKS = tuple(name for name in ATTACKS if name not in AUDIT_ONLY_ATTACKS)

# The attacks left out of a run's rounds before the last (they only draw the trend).
EARLIER_ROUNDS_SKIP = "skip_on_earlier_rounds"

__all__ = [
    "ATTACKS",
    "AUDIT_ONLY_ATTACKS",
    "EARLIER_ROUNDS_SKIP",
    "OFFLINE_ATTACKS",
    "ONLINE_ATTACKS",
    "Attack",
    "AttackOutput",
    "MembershipSet",
    "References",
    "build_attack",
    "check_attack_names",
    "check_attack_params",
    "run_attacks",
]


def check_attack_names(names: Sequence[str], *, audit: bool = False) -> list[str]:
    """The requested attack names, validated (``attacks.names``).

    The audit-only attacks are refused unless ``audit``: the main pipelines' victim has only
    OUT references and no outputs on noisy inputs.
    """
    if isinstance(names, str) or not names:
        raise ParameterError(
            f"attacks.names must be a non-empty list drawn from {list(ATTACKS)}, got {names!r}"
        )
    unknown = [name for name in names if name not in ATTACKS]
    if unknown:
        raise ParameterError(f"attacks.names has unknown attacks {unknown}; known: {list(ATTACKS)}")
    needs_in = [name for name in names if name in ONLINE_ATTACKS]
    if needs_in and not audit:
        raise ParameterError(
            f"attacks.names has online attacks {needs_in}, which need IN reference models: "
            "the victim here has only OUT references; run them in the audit, where every model "
            "is the target in turn"
        )
    if "label_noise" in names and not audit:
        raise ParameterError(
            "attacks.names has label_noise, which queries the models on noisy inputs: only the "
            "audit records those; run it there (audit.attacks)"
        )
    return list(names)


def build_attack(name: str, options: Mapping[str, Any] | None = None) -> Attack:
    """A fresh attack ``name`` with its options (``attacks.<name>``), checked by name."""
    factory = ATTACKS[name]
    options = dict(options or {})
    check_known_keys(f"attacks.{name}", options, inspect.signature(factory).parameters)
    return factory(**options)


def check_attack_params(params: Mapping[str, Any], num_shadows: int | None = None) -> list[str]:
    """Validate the ``attacks`` section (names and each attack's options); returns the names."""
    names = check_attack_names(params.get("names"))
    skipped = params.get(EARLIER_ROUNDS_SKIP, [])
    if isinstance(skipped, str) or not isinstance(skipped, Sequence):
        raise ParameterError(
            f"attacks.{EARLIER_ROUNDS_SKIP} must be a list of attack names (or []), got {skipped!r}"
        )
    unknown = [name for name in skipped if name not in ATTACKS]
    if unknown:
        raise ParameterError(
            f"attacks.{EARLIER_ROUNDS_SKIP} has unknown attacks {unknown}; known: {list(ATTACKS)}"
        )
    for key, options in params.items():
        if key in ("names", EARLIER_ROUNDS_SKIP):
            continue
        if key not in ATTACKS or not isinstance(options, Mapping):
            raise ParameterError(
                f"attacks.{key} is not an attack's options; attacks has 'names', "
                f"'{EARLIER_ROUNDS_SKIP}' and one mapping per attack from {list(ATTACKS)}"
            )
        build_attack(key, options)
    if "lira" in names and num_shadows is not None and num_shadows < MIN_SHADOWS:
        raise ParameterError(
            f"attacks.names includes lira, which needs split.num_shadows >= {MIN_SHADOWS} (each "
            f"shadow it calibrates on needs two others as references), got {num_shadows}"
        )
    return names


def run_attacks(
    names: Sequence[str],
    shadows: list[MembershipSet],
    target: MembershipSet,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, AttackOutput]:
    """Calibrate each named attack on the shadows and score the target.

    Audit-only attacks are allowed; they refuse a target that lacks what they need.
    """
    options = options or {}
    return {
        name: build_attack(name, options.get(name)).fit(shadows).score(target)
        for name in check_attack_names(names, audit=True)
    }
