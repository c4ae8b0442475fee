"""RSW, the restricted sliding window (WeMem scenario 1: data reuse).

Every fine-tuning epoch trains only on a per-class window of the members ordered by
mem-score, so each member is reused far less often than under Base, and with the default
low-to-high order the most memorable members are seen last or never.
"""

from __future__ import annotations

import numpy as np

from .base import Defense, SampleGroup
from .windows import ClassWindows, WindowConfig


class RSW(Defense):
    name = "rsw"

    def __init__(
        self,
        members: np.ndarray,
        labels: np.ndarray,
        raw_scores: np.ndarray,
        config: WindowConfig,
        seed: int = 0,
    ):
        self.windows = ClassWindows(members, labels, raw_scores, config, seed)

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return [SampleGroup("window", self.windows.window(epoch))]
