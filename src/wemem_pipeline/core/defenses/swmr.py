"""SWMR, sliding window with memory regularization (WeMem scenario 3: both factors).

Each epoch trains on the RSW window only, and inside the window the risky members get the RMR
treatment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..search_space import prefixed
from ..validation import check_known_keys
from .base import Defense, DefenseContext, GroupOptimizer, SampleGroup, Settings
from .rmr import RMR, empty_group_warning
from .rsw import RSW
from .windows import ClassWindows


class SWMR(Defense):
    name, title = "swmr", "SWMR"
    search_space = {
        **prefixed(RSW.search_space, "window."),
        **prefixed(RMR.search_space, "risky."),
    }

    def __init__(self, windows: ClassWindows, regularization: RMR):
        self.windows, self.regularization = windows, regularization
        # The risky members each round's windows held (epochs count from 0 in every round).
        self._risky_in_window: list[np.ndarray] = []

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> SWMR:
        settings = dict(settings or {})
        check_known_keys(section, settings, ("window", "risky"))
        windows = RSW.from_settings(settings.get("window"), context, f"{section}.window")
        regularization = RMR.from_settings(settings.get("risky"), context, f"{section}.risky")
        return cls(windows.windows, regularization)

    def optimizers(self) -> dict[str, GroupOptimizer]:
        return self.regularization.optimizers()

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        groups = self.regularization.groups(self.windows.window(epoch))
        if epoch == 0 or not self._risky_in_window:  # a round starts
            self._risky_in_window.append(np.empty(0, dtype=np.int64))
        self._risky_in_window[-1] = np.union1d(self._risky_in_window[-1], groups[0].indices)
        return groups

    def summary(self) -> dict[str, Any]:
        """RMR's summary, and how many risky members entered a window in each round."""
        entered = [len(risky) for risky in self._risky_in_window]
        return self.regularization.summary() | {"risky_in_window_per_round": entered}

    def idle_parts(self, epochs: int) -> list[str]:
        risky = self.regularization.risky
        members = len(self.regularization.members)
        if not len(risky):
            return [empty_group_warning(self.regularization.config, members, "RSW")]
        reached = self.windows.members_in_windows(epochs)
        if np.isin(risky, reached).any():
            return []
        window = self.windows.config
        return [
            f"none of the {len(risky)} risky members enters a window in a round of {epochs} "
            f"epochs ({window.section}: width {window.width}, stride {window.stride}, order "
            f"{window.order}; the windows reach {len(reached)} of the {members} members): "
            "the regularization never acts and SWMR trains as RSW"
        ]
