"""RMIA, offline (Zarifzadeh et al. 2024): compare the target's likelihood ratio with a population.

For a sample ``x`` the ratio ``r(x) = p(x | target) / p(x)`` divides the target's true-class
probability by its expected value over models. Offline only OUT references exist, and a
model that trained on ``x`` would give a higher probability, so ``p(x)`` is extrapolated as
``((1 + a) p_OUT(x) + (1 - a)) / 2``: ``a = 1`` trusts the OUT mean as it is, smaller ``a``
raise the expectation towards what IN models would give (the paper tunes ``a`` per dataset;
0.3 is a middle value). The score of ``x`` is the fraction of population samples ``z`` it
dominates, ``r(x) / r(z) >= gamma``; ``gamma >= 1`` asks for a clear margin. The population is
the shadow pool's non-members of the target.
"""

from __future__ import annotations

import numpy as np

from ..validation import require_number
from .base import MembershipSet
from .reference import ReferenceAttack, out_mean, require_references


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``p_y`` for logits of shape (..., n, num_classes) and labels (n,)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probability = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    index = np.broadcast_to(labels, probability.shape[:-1])[..., None]
    return np.take_along_axis(probability, index, axis=-1)[..., 0]


class RMIA(ReferenceAttack):
    name = "rmia"

    def __init__(self, a: float = 0.3, gamma: float = 2.0):
        super().__init__()
        self.a = require_number("attacks.rmia.a", a, 0.0, 1.0)
        self.gamma = require_number("attacks.rmia.gamma", gamma, 0.0, np.inf, low_inclusive=False)

    def likelihood_ratio(
        self,
        target_logits: np.ndarray,
        reference_logits: np.ndarray,
        is_out: np.ndarray,
        labels: np.ndarray,
    ) -> np.ndarray:
        p_out = out_mean(true_class_probability(reference_logits, labels), is_out)
        expected = 0.5 * ((1.0 + self.a) * p_out + (1.0 - self.a))
        return true_class_probability(target_logits, labels) / expected

    def statistic(self, target: MembershipSet) -> np.ndarray:
        references = require_references(self.name, target)
        ratio = self.likelihood_ratio(
            target.logits, references.logits, references.is_out, target.labels
        )
        population = self.likelihood_ratio(
            references.population_target_logits,
            references.population_logits,
            references.population_is_out,
            references.population_labels,
        )
        population = np.sort(population[np.isfinite(population)])
        if len(population) == 0:
            raise ValueError("rmia needs population samples with an OUT reference model")
        dominated = np.searchsorted(population, ratio / self.gamma, side="right")
        return np.where(np.isfinite(ratio), dominated / len(population), np.nan)
