"""SWMR, sliding window with memory regularization (WeMem scenario 3: both factors).

Each epoch trains on the RSW window only, and inside the window the risky members get the RMR
treatment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Defense, GroupOptimizer, SampleGroup
from .risky import RiskyConfig
from .rmr import RMR, risky_groups, risky_optimizers, risky_summary
from .windows import ClassWindows, WindowConfig


class SWMR(Defense):
    name = "swmr"

    def __init__(
        self,
        members: np.ndarray,
        labels: np.ndarray,
        raw_scores: np.ndarray,
        normalized_scores: np.ndarray,
        window: WindowConfig,
        risky: RiskyConfig,
        base_weight_decay: float,
        seed: int = 0,
    ):
        self.windows = ClassWindows(members, labels, raw_scores, window, seed)
        self.regularization = RMR(
            members, labels, raw_scores, normalized_scores, risky, base_weight_decay
        )
        self.risky_per_class = self.regularization.risky_per_class

    def optimizers(self) -> dict[str, GroupOptimizer]:
        return risky_optimizers(self.regularization.config)

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        rmr = self.regularization
        return risky_groups(
            self.windows.window(epoch), rmr.risky, rmr.config, rmr.base_weight_decay
        )

    def summary(self) -> dict[str, Any]:
        return risky_summary(self.risky_per_class)
