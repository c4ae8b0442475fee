"""LiRA, offline (Carlini et al. 2022): is the target's confidence unusually high?

For each sample, the logit-scaled true-class confidence ``phi = log p_y - log sum_{y'!=y} p_y'``
of the reference models that did not train on it (OUT models) is modelled as a Gaussian
``N(mu_out, var_out)``. Two tests of the target's ``phi`` against it (option ``test``):

* ``one_sided`` (the paper's test, the default): how far above the Gaussian ``phi`` lies. Its
  p-value ``1 - Phi(z)`` is monotone in ``z = (phi - mu_out) / sigma_out``, so ``z`` is the
  score, which keeps the ranking exact where the p-value would round to 0.
* ``two_sided`` (the authors' released code): the negative log-density
  ``-log N(phi; mu_out, var_out)``, larger the further ``phi`` lies from the OUT Gaussian in
  either direction (a member with an unusually low ``phi`` also counts as one).

With few references a per-sample variance is noise, so one variance pooled over all samples
is used until at least ``global_variance_below`` OUT references are available for a sample.
The online variant, which also models the IN references, is in ``lira_online.py``.
"""

from __future__ import annotations

import numpy as np

from ..validation import require_choice, require_int
from .base import MembershipSet, References
from .reference import ReferenceAttack, masked_mean, require_references
from .threshold import scaled_confidence

MIN_SHADOWS = 3  # calibrating on a shadow leaves K - 1 references; a variance needs two
TESTS = ("one_sided", "two_sided")
_VARIANCE_FLOOR = 1e-12  # references that agree exactly must not divide by 0


def target_and_reference_phi(
    target: MembershipSet, references: References
) -> tuple[np.ndarray, np.ndarray]:
    """The target's ``phi`` (n,) and the reference models' ``phi`` on the same samples (K, n)."""
    phi = scaled_confidence(target.logits, target.labels)
    phi_reference = scaled_confidence(
        references.logits, np.broadcast_to(target.labels, references.is_out.shape)
    )
    return phi, phi_reference


def gaussian_per_sample(
    values: np.ndarray, mask: np.ndarray, global_variance_below: int, attack: str, side: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per sample of ``values`` (K, n) over the references ``mask`` selects.

    The mean is the sample's own (NaN where no reference is selected). The variance is the
    sample's own (ddof 1) where it has at least ``global_variance_below`` references, else one
    variance pooled over all samples: the squared deviations from each sample's own mean over
    the sum of ``count - 1``, which needs some sample with two references (``side``, IN or
    OUT, names them in the error).
    """
    count = mask.sum(axis=0)
    mean = masked_mean(values, mask)
    squares = np.where(mask, (values - np.nan_to_num(mean)) ** 2, 0.0).sum(axis=0)
    pooled_dof = np.maximum(count - 1, 0).sum()
    if pooled_dof == 0:
        raise ValueError(f"{attack} needs at least two {side} reference models for some samples")
    variance = np.full(len(mean), squares.sum() / pooled_dof)
    own = count >= global_variance_below
    variance[own] = squares[own] / (count[own] - 1)
    return mean, np.maximum(variance, _VARIANCE_FLOOR)


def gaussian_log_density(x: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """``log N(x; mean, variance)``, elementwise."""
    return -0.5 * (np.log(2.0 * np.pi * variance) + (x - mean) ** 2 / variance)


class LiRA(ReferenceAttack):
    name = "lira"

    def __init__(self, global_variance_below: int = 32, test: str = "one_sided"):
        super().__init__()
        self.global_variance_below = require_int(
            "attacks.lira.global_variance_below", global_variance_below, 2
        )
        self.test = require_choice("attacks.lira.test", test, TESTS)

    def statistic(self, target: MembershipSet) -> np.ndarray:
        references = require_references(self.name, target)
        phi, phi_reference = target_and_reference_phi(target, references)
        mean, variance = gaussian_per_sample(
            phi_reference, references.is_out, self.global_variance_below, self.name, "OUT"
        )
        if self.test == "two_sided":
            return -gaussian_log_density(phi, mean, variance)
        return (phi - mean) / np.sqrt(variance)
