"""What an attack sees and returns.

An attack is calibrated on the shadow models' outputs (whose membership the attacker knows)
and then scores the victim's outputs. Every attack in ``attacks/`` implements :class:`Attack`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class MembershipSet:
    """One model's logits on samples whose membership in that model is known."""

    sample_index: np.ndarray  # dataset rows, (n,)
    logits: np.ndarray  # (n, num_classes)
    labels: np.ndarray  # true classes, (n,)
    is_member: np.ndarray  # bool, (n,)

    def __post_init__(self) -> None:
        n = len(self.sample_index)
        if not (len(self.logits) == len(self.labels) == len(self.is_member) == n):
            raise ValueError("sample_index, logits, labels and is_member must have equal length")


@dataclass(frozen=True)
class AttackOutput:
    """Membership scores (higher = more likely member) and hard decisions for each sample."""

    scores: np.ndarray
    predicted_member: np.ndarray


class Attack(Protocol):
    name: str

    def fit(self, shadows: list[MembershipSet]) -> Attack:
        """Calibrate on the shadows' outputs; returns ``self``."""
        ...

    def score(self, target: MembershipSet) -> AttackOutput:
        """Score the target model's samples; ``target.is_member`` is never read."""
        ...
