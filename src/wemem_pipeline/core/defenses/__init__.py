"""Defenses applied during the fine-tuning of every prune round, behind one interface.

``DEFENSES`` maps a name to a builder ``(settings, section, members, labels, mem_scores,
base_weight_decay, seed) -> Defense``. The WeMem defenses (RSW, RMR, SWMR) plan which members
each epoch trains on; the baselines (PPB, AdvReg, DP-SGD, RelaxLoss, HAMP) change the
training step. Adding a defense: one module with its class, and its builder registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..validation import ParameterError, require_choice
from .advreg import AdversarialRegularization, AdvRegConfig
from .base import Defense, GroupOptimizer, NoDefense, SampleGroup
from .dpsgd import DPSGD, DPSGDConfig
from .hamp import HAMP, HAMPConfig
from .ppb import PPB, PPBConfig
from .relaxloss import RelaxLoss, RelaxLossConfig
from .risky import RiskyConfig
from .rmr import RMR
from .rsw import RSW
from .scores import member_scores
from .swmr import SWMR
from .windows import WindowConfig

__all__ = [
    "BASELINE_NAMES",
    "DEFENSE_NAMES",
    "Defense",
    "GroupOptimizer",
    "NoDefense",
    "SampleGroup",
    "build_defense",
    "check_defense_settings",
]


def _section(settings: Mapping[str, Any] | None, cls: type, section: str):
    # ``lambda`` is a Python keyword: the settings say ``lambda``, the dataclasses ``lambda_``.
    values = {("lambda_" if k == "lambda" else k): v for k, v in dict(settings or {}).items()}
    fields = [name for name in cls.__dataclass_fields__ if name != "section"]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = sorted(name.rstrip("_") for name in fields)
        raise ParameterError(
            f"{section} has unknown keys {[k.rstrip('_') for k in unknown]}; known keys: {known}"
        )
    return cls(**values, section=section)


def _rsw(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    config = _section(settings, WindowConfig, section)
    raw, _ = member_scores(mem_scores, members)
    return RSW(members, labels, raw, config, seed)


def _rmr(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    config = _section(settings, RiskyConfig, section)
    raw, normalized = member_scores(mem_scores, members)
    return RMR(members, labels, raw, normalized, config, base_weight_decay)


def _swmr(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    settings = dict(settings or {})
    unknown = sorted(set(settings) - {"window", "risky"})
    if unknown:
        raise ParameterError(f"{section} has unknown keys {unknown}; known: window, risky")
    window = _section(settings.get("window"), WindowConfig, f"{section}.window")
    risky = _section(settings.get("risky"), RiskyConfig, f"{section}.risky")
    raw, normalized = member_scores(mem_scores, members)
    return SWMR(members, labels, raw, normalized, window, risky, base_weight_decay, seed)


def _base(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    if settings:
        raise ParameterError(f"{section}: the base defense takes no settings, got {settings}")
    return NoDefense(members)


def _num_classes(labels: np.ndarray) -> int:
    return int(np.max(labels)) + 1


def _ppb(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    return PPB(members, _section(settings, PPBConfig, section))


def _advreg(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    config = _section(settings, AdvRegConfig, section)
    return AdversarialRegularization(members, _num_classes(labels), config, seed)


def _dpsgd(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    return DPSGD(members, _section(settings, DPSGDConfig, section), seed)


def _relaxloss(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    return RelaxLoss(members, _section(settings, RelaxLossConfig, section))


def _hamp(settings, section, members, labels, mem_scores, base_weight_decay, seed) -> Defense:
    return HAMP(members, _num_classes(labels), _section(settings, HAMPConfig, section), seed)


DefenseBuilder = Callable[..., Defense]
DEFENSES: dict[str, DefenseBuilder] = {
    "base": _base,
    "rsw": _rsw,
    "rmr": _rmr,
    "swmr": _swmr,
    "ppb": _ppb,
    "advreg": _advreg,
    "dpsgd": _dpsgd,
    "relaxloss": _relaxloss,
    "hamp": _hamp,
}
BASELINE_NAMES = ("ppb", "advreg", "dpsgd", "relaxloss", "hamp")
DEFENSE_NAMES = tuple(DEFENSES)


def build_defense(
    name: str,
    settings: Mapping[str, Any] | None,
    members: np.ndarray,
    labels: np.ndarray,
    mem_scores: pd.DataFrame | None,
    base_weight_decay: float,
    seed: int,
    section: str = "settings",
) -> Defense:
    """The defense ``name`` for one model, from its settings and its pool's mem-scores.

    ``section`` names the settings in error messages (e.g. ``scenario1.settings``).
    """
    require_choice(f"{section.rsplit('.', 1)[0]}.defense", name, DEFENSE_NAMES)
    return DEFENSES[name](settings, section, members, labels, mem_scores, base_weight_decay, seed)


def check_defense_settings(name: str, settings: Mapping[str, Any] | None, section: str) -> None:
    """Validate a defense's settings without data (before any training)."""
    members = np.arange(4)
    labels = np.arange(4) % 2
    scores = pd.DataFrame({"sample_index": members, "raw_score": 0.0, "score": 0.0})
    build_defense(name, settings, members, labels, scores, 0.0, 0, section)
