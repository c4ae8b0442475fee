"""LiRA, offline (Carlini et al. 2022): is the target's confidence unusually high?

For each sample, the logit-scaled true-class confidence ``phi = log p_y - log sum_{y'!=y} p_y'``
of the reference models that did not train on it (OUT models) is modelled as a Gaussian.
The one-sided test asks how far above that Gaussian the target's ``phi`` lies; its p-value
``1 - Phi(z)`` is monotone in ``z = (phi - mu) / sigma``, so ``z`` is the score, which keeps
the ranking exact where the p-value would round to 0. With few references a per-sample
variance is noise, so one variance pooled over all samples is used until at least
``global_variance_below`` OUT references are available for a sample.
"""

from __future__ import annotations

import numpy as np

from ..validation import require_int
from .base import MembershipSet
from .reference import ReferenceAttack, out_mean, require_references
from .threshold import scaled_confidence

MIN_SHADOWS = 3  # calibrating on a shadow leaves K - 1 references; a variance needs two


class LiRA(ReferenceAttack):
    name = "lira"

    def __init__(self, global_variance_below: int = 32):
        super().__init__()
        self.global_variance_below = require_int(
            "attacks.lira.global_variance_below", global_variance_below, 2
        )

    def statistic(self, target: MembershipSet) -> np.ndarray:
        references = require_references(self.name, target)
        phi = scaled_confidence(target.logits, target.labels)
        phi_reference = scaled_confidence(
            references.logits, np.broadcast_to(target.labels, references.is_out.shape)
        )
        is_out = references.is_out
        mean = out_mean(phi_reference, is_out)
        count = is_out.sum(axis=0)
        squares = np.where(is_out, (phi_reference - np.nan_to_num(mean)) ** 2, 0.0).sum(axis=0)
        pooled_dof = np.maximum(count - 1, 0).sum()
        if pooled_dof == 0:
            raise ValueError("lira needs at least two OUT reference models for some samples")
        variance = np.full(len(phi), squares.sum() / pooled_dof)
        own = count >= self.global_variance_below
        variance[own] = squares[own] / (count[own] - 1)
        return (phi - mean) / np.sqrt(np.maximum(variance, 1e-12))
