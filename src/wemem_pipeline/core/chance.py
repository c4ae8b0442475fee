"""Is a model better than guessing? Its test accuracy against the majority-class rate.

A model that answers no better than "always the most frequent class" has learnt nothing a
membership attack could exploit or a defense could protect: the attacks' numbers on it mean
nothing, whatever they are (a fully pruned network scores AUC 0.5 with "no clear difference"
to anything). Accuracy is measured on a few hundred test samples, so it is compared by its 95%
interval (Wilson's, for a binomial proportion): above chance only when the whole interval
lies above the majority-class rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .splits import VICTIM, roles_of

_Z95 = 1.959964


@dataclass(frozen=True)
class ChanceLevel:
    """The accuracy of always answering the most frequent class of ``samples`` test samples."""

    majority_rate: float
    samples: int

    @classmethod
    def of(cls, test_labels: np.ndarray) -> ChanceLevel:
        labels = np.asarray(test_labels)
        if len(labels) == 0:
            return cls(math.nan, 0)
        return cls(float(np.bincount(labels).max() / len(labels)), len(labels))

    def interval(self, accuracy: float) -> tuple[float, float]:
        """Wilson's 95% interval of an accuracy measured on the ``samples`` test samples."""
        n, z = self.samples, _Z95
        if n == 0 or math.isnan(accuracy):
            return math.nan, math.nan
        center = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
        spread = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
        half = spread / (1 + z * z / n)
        return max(0.0, center - half), min(1.0, center + half)

    def above(self, accuracy: float) -> bool:
        """True when the accuracy's whole interval lies above the majority-class rate (a
        model without test samples counts as above: there is nothing to compare)."""
        if self.samples == 0:
            return True
        return bool(self.interval(accuracy)[0] > self.majority_rate)

    def sentence(self, model: str, accuracy: float) -> str:
        """Why ``model``'s leakage numbers mean nothing (for a model not :meth:`above`)."""
        low, high = self.interval(accuracy)
        return (
            f"{model} is at chance: test accuracy {accuracy:.3f} [{low:.2f}, {high:.2f}] is not "
            f"above the majority-class rate {self.majority_rate:.3f} of its {self.samples} test "
            "samples, so its leakage numbers mean nothing"
        )

    def as_dict(self) -> dict[str, float | int]:
        return {"majority_rate": self.majority_rate, "test_samples": self.samples}


def victim_chance_level(labels: np.ndarray, splits: pd.DataFrame) -> ChanceLevel:
    """The chance level of the victim's test samples (every victim model is tested on them)."""
    return ChanceLevel.of(np.asarray(labels)[roles_of(splits, VICTIM)["test"]])
