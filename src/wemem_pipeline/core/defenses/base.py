"""The defense interface used by the one training loop.

A defense decides, for every fine-tuning epoch, which member samples are trained on and in
which *groups*; each group has its own optimizer settings. The loop steps through the groups
in the order given, each group's samples shuffled into batches. Base (no defense) is one group
holding every member, every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class GroupOptimizer:
    """Optimizer settings of one group; ``None`` keeps the training configuration's value."""

    weight_decay: float | None = None
    decoupled: bool = False  # AdamW-style decay instead of L2 added to the gradient


@dataclass(frozen=True)
class SampleGroup:
    """Samples (dataset rows) trained together in one epoch.

    ``optimizer`` names the optimizer that steps on this group's batches; ``l2_penalty`` adds
    ``l2_penalty * ||theta||^2`` to the loss of those batches (a coupled weight decay of
    ``2 * l2_penalty`` on top of the optimizer's own).
    """

    name: str
    indices: np.ndarray
    optimizer: str = "all"
    l2_penalty: float = 0.0


class Defense(Protocol):
    """What the training loop asks of a defense; one instance serves one model."""

    name: str

    def optimizers(self) -> dict[str, GroupOptimizer]:
        """Optimizer settings by name; the loop creates one optimizer for each."""
        ...

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        """The groups of epoch ``epoch`` (0-based within a fine-tuning run), in step order."""
        ...


class NoDefense:
    """Base: every member, every epoch, one optimizer."""

    name = "base"

    def __init__(self, members: np.ndarray):
        self.members = np.asarray(members, dtype=np.int64)

    def optimizers(self) -> dict[str, GroupOptimizer]:
        return {"all": GroupOptimizer()}

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return [SampleGroup("all", self.members)]
