"""RMR, risky memory regularization (WeMem scenario 2: inherent memorability).

Members whose mem-score reaches the threshold are "risky"; every epoch first steps through
the risky batches with a much stronger weight decay, then through the others with the normal
one, so the model cannot fit the risky samples by memorizing them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Defense, GroupOptimizer, SampleGroup
from .risky import RiskyConfig, risky_mask


def risky_groups(
    samples: np.ndarray, risky: np.ndarray, config: RiskyConfig, base_weight_decay: float
) -> list[SampleGroup]:
    """``samples`` split into the risky group (first) and the general group."""
    is_risky = np.isin(samples, risky)
    if config.optimizer == "separate":
        return [
            SampleGroup("risky", samples[is_risky], optimizer="risky"),
            SampleGroup("general", samples[~is_risky], optimizer="all"),
        ]
    # Coupled L2 with decay w adds w * theta to the gradient, i.e. (w / 2) ||theta||^2 to the
    # loss; the shared optimizer already applies the base decay.
    penalty = (config.weight_decay_mem - base_weight_decay) / 2
    return [
        SampleGroup("risky", samples[is_risky], optimizer="all", l2_penalty=penalty),
        SampleGroup("general", samples[~is_risky], optimizer="all"),
    ]


def risky_summary(risky_per_class: dict[int, int]) -> dict[str, Any]:
    return {
        "risky_per_class": {str(c): n for c, n in risky_per_class.items()},
        "risky_total": int(sum(risky_per_class.values())),
    }


def risky_optimizers(config: RiskyConfig) -> dict[str, GroupOptimizer]:
    optimizers = {"all": GroupOptimizer()}
    if config.optimizer == "separate":
        optimizers["risky"] = GroupOptimizer(config.weight_decay_mem, config.decoupled)
    return optimizers


class RMR(Defense):
    name = "rmr"

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

    def optimizers(self) -> dict[str, GroupOptimizer]:
        return risky_optimizers(self.config)

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return risky_groups(self.members, self.risky, self.config, self.base_weight_decay)

    def summary(self) -> dict[str, Any]:
        return risky_summary(self.risky_per_class)
