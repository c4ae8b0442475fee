"""RMIA, offline (Zarifzadeh et al. 2024): compare the target's likelihood ratio with a population.

For a sample ``x`` the ratio ``r(x) = p(x | target) / p(x)`` divides the target's true-class
probability by its expected value over models. Offline only OUT references exist, and a
model that trained on ``x`` would give a higher probability, so ``p(x)`` is extrapolated as
``((1 + a) p_OUT(x) + (1 - a)) / 2``: ``a = 1`` trusts the OUT mean as it is, smaller ``a``
raise the expectation towards what IN models would give (the paper tunes ``a`` per dataset;
0.3 is a middle value). The score of ``x`` is the fraction of population samples ``z`` it
dominates, ``r(x) / r(z) >= gamma``; ``gamma >= 1`` asks for a clear margin. The population is
the shadow pool's non-members of the target. The online variant, whose ``p(x)`` averages IN
and OUT references, is in ``rmia_online.py``; both share :class:`LikelihoodRatioAttack`.
"""

from __future__ import annotations

import numpy as np

from ..validation import require_number
from .base import MembershipSet
from .reference import ReferenceAttack, masked_mean, require_references


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``p_y`` for logits of shape (..., n, num_classes) and labels (n,)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probability = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    index = np.broadcast_to(labels, probability.shape[:-1])[..., None]
    return np.take_along_axis(probability, index, axis=-1)[..., 0]


class LikelihoodRatioAttack(ReferenceAttack):
    """RMIA's ratio ``r(x) = p(x | target) / p(x)`` and its dominance count over a population.

    Subclasses define ``p(x)`` from the references' true-class probabilities
    (:meth:`expected_probability`); ``gamma`` is validated as ``attacks.<name>.gamma``.
    """

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = require_number(
            f"attacks.{self.name}.gamma", gamma, 0.0, np.inf, low_inclusive=False
        )

    def expected_probability(self, p_reference: np.ndarray, is_out: np.ndarray) -> np.ndarray:
        """``p(x)`` per sample from the references' ``p_y`` (K, n); NaN where undefined."""
        raise NotImplementedError

    def likelihood_ratio(
        self,
        target_logits: np.ndarray,
        reference_logits: np.ndarray,
        is_out: np.ndarray,
        labels: np.ndarray,
    ) -> np.ndarray:
        p_reference = true_class_probability(reference_logits, labels)
        expected = self.expected_probability(p_reference, is_out)
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
            raise ValueError(
                f"{self.name} needs population samples whose p(x) the references define "
                "(offline: an OUT reference model)"
            )
        dominated = np.searchsorted(population, ratio / self.gamma, side="right")
        return np.where(np.isfinite(ratio), dominated / len(population), np.nan)


class RMIA(LikelihoodRatioAttack):
    name = "rmia"

    def __init__(self, a: float = 0.3, gamma: float = 2.0):
        super().__init__(gamma)
        self.a = require_number("attacks.rmia.a", a, 0.0, 1.0)

    def expected_probability(self, p_reference: np.ndarray, is_out: np.ndarray) -> np.ndarray:
        """The OUT references' mean, raised towards IN models by ``a``; NaN without OUT."""
        p_out = masked_mean(p_reference, is_out)
        return 0.5 * ((1.0 + self.a) * p_out + (1.0 - self.a))
