"""SWMR, sliding window with memory regularization (WeMem scenario 3: both factors).

Each epoch trains on the RSW window only, and inside the window the risky members get the RMR
treatment.
"""

from __future__ import annotations

from typing import Any

from ..search_space import prefixed
from ..validation import check_known_keys
from .base import Defense, DefenseContext, GroupOptimizer, SampleGroup, Settings
from .rmr import RMR
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
        return self.regularization.groups(self.windows.window(epoch))

    def summary(self) -> dict[str, Any]:
        return self.regularization.summary()
