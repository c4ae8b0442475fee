"""RMR, risky memory regularization (WeMem scenario 2: inherent memorability).

Members whose mem-score reaches the threshold are "risky"; every epoch first steps through
the risky batches with a much stronger weight decay, then through the others with the normal
one, so the model cannot fit the risky samples by memorizing them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import from_mapping
from .base import Defense, DefenseContext, GroupOptimizer, SampleGroup, Settings
from .risky import RiskyConfig, risky_mask


class RMR(Defense):
    name, title = "rmr", "RMR"
    search_space = {
        "threshold": {"low": 0.5, "high": 0.99},
        "weight_decay_mem": {"low": 1e-3, "high": 1.0, "log": True},
        "optimizer": {"choices": ["separate", "shared"]},
        "decoupled": {"choices": [False, True], "when": {"optimizer": "separate"}},
    }

    def __init__(
        self,
        members: np.ndarray,
        labels: np.ndarray,
        raw_scores: np.ndarray,
        normalized_scores: np.ndarray,
        config: RiskyConfig,
        base_weight_decay: float,
    ):
        self.members = np.asarray(members, dtype=np.int64)
        self.config = config
        self.base_weight_decay = base_weight_decay
        self.risky = self.members[risky_mask(raw_scores, normalized_scores, config)]
        risky_labels = labels[self.risky]
        self.risky_per_class = {
            int(c): int((risky_labels == c).sum()) for c in np.unique(labels[self.members])
        }

    @classmethod
    def from_settings(cls, settings: Settings, context: DefenseContext, section: str) -> RMR:
        config = from_mapping(RiskyConfig, section, settings)
        raw, normalized = context.member_scores()
        return cls(
            context.members, context.labels, raw, normalized, config, context.base_weight_decay
        )

    def optimizers(self) -> dict[str, GroupOptimizer]:
        optimizers = {"all": GroupOptimizer()}
        if self.config.optimizer == "separate":
            optimizers["risky"] = GroupOptimizer(
                self.config.weight_decay_mem, self.config.decoupled
            )
        return optimizers

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return self.groups(self.members)

    def groups(self, samples: np.ndarray) -> list[SampleGroup]:
        """``samples`` split into the risky group (first) and the general group."""
        is_risky = np.isin(samples, self.risky)
        if self.config.optimizer == "separate":
            return [
                SampleGroup("risky", samples[is_risky], optimizer="risky"),
                SampleGroup("general", samples[~is_risky], optimizer="all"),
            ]
        # Coupled L2 with decay w adds w * theta to the gradient, i.e. (w / 2) ||theta||^2 to
        # the loss; the shared optimizer already applies the base decay.
        penalty = (self.config.weight_decay_mem - self.base_weight_decay) / 2
        return [
            SampleGroup("risky", samples[is_risky], optimizer="all", l2_penalty=penalty),
            SampleGroup("general", samples[~is_risky], optimizer="all"),
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "risky_per_class": {str(c): n for c, n in self.risky_per_class.items()},
            "risky_total": int(sum(self.risky_per_class.values())),
        }

    def idle_parts(self, epochs: int) -> list[str]:
        if len(self.risky):
            return []
        return [empty_group_warning(self.config, len(self.members), "Base")]


def empty_group_warning(config: RiskyConfig, members: int, trains_as: str) -> str:
    """The words for a risky group that holds no member: the defense then trains as
    ``trains_as``."""
    change = "raise" if config.scale == "top_fraction" else "lower"
    return (
        f"{config.section}.threshold={config.threshold} (scale {config.scale}) makes none of "
        f"the {members} members risky: the regularization never acts and the defense trains "
        f"as {trains_as}; {change} the threshold"
    )
