"""RMIA, online (Zarifzadeh et al. 2024): ``p(x)`` averaged over IN and OUT reference models.

As offline RMIA (``rmia.py``), the score of a sample ``x`` is the fraction of population
samples ``z`` whose likelihood ratio it dominates, ``r(x) / r(z) >= gamma``, with
``r(x) = p(x | target) / p(x)``. Online, ``p(x)`` needs no extrapolation: it is the mean of
the true-class probability over all the sample's references, IN and OUT. In an audit every
model is in turn the target and the references are the others, trained on random halves, so
about half are IN: the paper's balanced estimate. Population samples (non-members of the
target) take the same mean over the references given for them, whichever side they are on.
A set in which no sample has an IN reference is refused: the victim of the main pipelines has
only OUT references, so this attack runs in the audit only.
"""

from __future__ import annotations

import numpy as np

from .base import MembershipSet
from .reference import require_in_references, require_references
from .rmia import LikelihoodRatioAttack


class OnlineRMIA(LikelihoodRatioAttack):
    name = "rmia_online"

    def __init__(self, gamma: float = 1.0):
        super().__init__(gamma)

    def expected_probability(self, p_reference: np.ndarray, is_out: np.ndarray) -> np.ndarray:
        """The mean ``p_y`` over all references, IN and OUT alike."""
        return p_reference.mean(axis=0)

    def statistic(self, target: MembershipSet) -> np.ndarray:
        require_in_references(self.name, require_references(self.name, target))
        return super().statistic(target)
