"""Defenses applied during the fine-tuning of every prune round, behind one interface.

``DEFENSES`` maps a name to its class; each class builds itself from its parameter section
with ``from_settings(settings, context, section)``. The WeMem defenses (RSW, RMR, SWMR) plan
which members each epoch trains on; the baselines (PPB, AdvReg, DP-SGD, RelaxLoss, HAMP)
change the training step. Adding a defense: one module with its class, registered here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..validation import require_choice
from .advreg import AdversarialRegularization
from .base import Defense, DefenseContext, GroupOptimizer, NoDefense, SampleGroup, Settings
from .dpsgd import DPSGD
from .hamp import HAMP
from .ppb import PPB
from .relaxloss import RelaxLoss
from .rmr import RMR
from .rsw import RSW
from .swmr import SWMR

__all__ = [
    "AUTO",
    "BASELINE_NAMES",
    "DEFENSES",
    "DEFENSE_NAMES",
    "WEMEM_NAMES",
    "Defense",
    "DefenseContext",
    "GroupOptimizer",
    "NoDefense",
    "SampleGroup",
    "build_defense",
    "check_defense_settings",
    "idle_in_summary",
]

DEFENSES: dict[str, type[Defense]] = {
    cls.name: cls
    for cls in (NoDefense, RSW, RMR, SWMR, PPB, AdversarialRegularization, DPSGD, RelaxLoss, HAMP)
}
DEFENSE_NAMES = tuple(DEFENSES)
AUTO = "auto"  # in place of a defense's settings: those of its autotune study
WEMEM_NAMES = ("rsw", "rmr", "swmr")
BASELINE_NAMES = ("ppb", "advreg", "dpsgd", "relaxloss", "hamp")


def build_defense(
    name: str, settings: Settings, context: DefenseContext, section: str = "settings"
) -> Defense:
    """The defense ``name`` for one model; ``section`` names its settings in error messages
    (e.g. ``scenario1.settings``)."""
    require_choice(f"{section.rsplit('.', 1)[0]}.defense", name, DEFENSE_NAMES)
    return DEFENSES[name].from_settings(settings, context, section)


def check_defense_settings(name: str, settings: Settings, section: str) -> None:
    """Validate a defense's settings without data (before any training)."""
    members = np.arange(4)
    scores = pd.DataFrame({"sample_index": members, "raw_score": 0.0, "score": 0.0})
    context = DefenseContext(members, labels=members % 2, num_classes=2, mem_scores=scores)
    build_defense(name, settings, context, section)


def idle_in_summary(defense: str, summary: Mapping[str, Any]) -> list[str]:
    """The parts of a model's defense that never acted, from its summary after training: no
    risky member (RMR, SWMR), or no risky member in any round's windows (SWMR)."""
    name = DEFENSES[defense].title
    if summary.get("risky_total") == 0:
        trained_as = "RSW" if defense == "swmr" else "Base"
        return [
            f"{name}: no member of the victim was risky, so the regularization never acted and "
            f"{name} trained as {trained_as} (change the risky threshold)"
        ]
    entered = summary.get("risky_in_window_per_round")
    if entered and not any(entered):
        return [
            f"{name}: none of the victim's {summary['risky_total']} risky members entered a "
            f"window in any of the {len(entered)} rounds, so the regularization never acted "
            f"and {name} trained as RSW (widen the window, raise its stride or order it "
            "high_to_low)"
        ]
    return []
