"""RSW, the restricted sliding window (WeMem scenario 1: data reuse).

Every fine-tuning epoch trains only on a per-class window of the members ordered by
mem-score, so each member is reused far less often than under Base, and with the default
low-to-high order the most memorable members are seen last or never.
"""

from __future__ import annotations

from ..validation import from_mapping
from .base import Defense, DefenseContext, SampleGroup, Settings
from .windows import ClassWindows, WindowConfig


class RSW(Defense):
    name, title = "rsw", "RSW"
    search_space = {
        "width": {"low": 0.05, "high": 1.0},
        "stride": {"low": 0.005, "high": 0.3, "log": True},
        "order": {"choices": ["low_to_high", "high_to_low"]},  # random is the ablation
    }

    def __init__(self, windows: ClassWindows):
        self.windows = windows

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> RSW:
        config = from_mapping(WindowConfig, section, settings)
        raw, _ = context.member_scores()
        return cls(ClassWindows(context.members, context.labels, raw, config, context.seed))

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return [SampleGroup("window", self.windows.window(epoch))]
