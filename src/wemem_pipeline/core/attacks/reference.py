"""Shared calibration of the reference attacks (LiRA, RMIA; offline and online).

Such an attack turns each sample into a statistic by comparing the target model's output with
reference models' outputs. The statistic needs no training; only the decision threshold (for
balanced accuracy) is learned, on the shadows: each shadow is scored against the other shadows,
and samples whose statistic is undefined (offline: no OUT reference; online: no IN or no OUT
reference) are left out.
"""

from __future__ import annotations

import numpy as np

from .base import AttackOutput, MembershipSet, References
from .threshold import best_threshold


def require_references(attack: str, target: MembershipSet) -> References:
    if target.references is None:
        raise ValueError(
            f"the {attack} attack needs reference models' outputs; build the set with "
            "ModelOutputs.attack_sets, which attaches the shadows as references"
        )
    return target.references


def require_in_references(attack: str, references: References) -> None:
    """An online attack compares IN with OUT references: refuse a set where no sample has IN."""
    if not (~references.is_out).any():
        raise ValueError(
            f"{attack} needs IN reference models: run it in the audit, where every model is the "
            "target in turn (the victim's samples have only OUT references)"
        )


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the references ``mask`` selects for each sample (axis 0); NaN where none is."""
    count = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class ReferenceAttack:
    """Base of LiRA and RMIA: a per-sample statistic and one threshold calibrated on shadows."""

    name = "reference"
    # Why a sample's statistic can be undefined, for the refusal to score it.
    undefined_reason = (
        "have no OUT reference model; every sample an attack scores must be outside the "
        "shadows' training data"
    )

    def __init__(self) -> None:
        self.threshold = 0.0

    def statistic(self, target: MembershipSet) -> np.ndarray:
        """Membership statistic per sample (higher = member); NaN where it is undefined."""
        raise NotImplementedError

    def fit(self, shadows: list[MembershipSet]) -> ReferenceAttack:
        values = np.concatenate([self.statistic(s) for s in shadows])
        is_member = np.concatenate([s.is_member for s in shadows])
        defined = np.isfinite(values)
        self.threshold = best_threshold(values[defined], is_member[defined])
        return self

    def score(self, target: MembershipSet) -> AttackOutput:
        values = self.statistic(target)
        undefined = int((~np.isfinite(values)).sum())
        if undefined:
            raise ValueError(f"{self.name}: {undefined} target samples {self.undefined_reason}")
        scores = values - self.threshold
        return AttackOutput(scores=scores, predicted_member=scores >= 0)
