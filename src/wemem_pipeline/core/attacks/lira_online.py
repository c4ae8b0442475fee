"""LiRA, online (Carlini et al. 2022): is the target's ``phi`` more likely under IN or OUT models?

In an audit every model is in turn the target and the others are its references, so each
sample has reference models that trained on it (IN) and others that did not (OUT). For each
sample the logit-scaled confidence ``phi`` (see ``lira.py``) of its IN references is modelled
as a Gaussian ``N(mu_in, var_in)`` and that of its OUT references as ``N(mu_out, var_out)``;
the statistic is the log-likelihood ratio of the target's ``phi``,

    log N(phi; mu_in, var_in) - log N(phi; mu_out, var_out),

higher = more likely a member (0: both equally likely). As in offline LiRA, a sample with
fewer than ``global_variance_below`` IN (resp. OUT) references uses one IN (resp. OUT)
variance pooled over all samples, Carlini's "global variance" for few models; the means are
always the sample's own. A sample with no IN or no OUT reference has no statistic (NaN): it
is left out of calibration and cannot be scored. The victim of the main pipelines has only
OUT references, so this attack runs in the audit only.
"""

from __future__ import annotations

import numpy as np

from ..validation import require_int
from .base import MembershipSet
from .lira import gaussian_log_density, gaussian_per_sample, target_and_reference_phi
from .reference import ReferenceAttack, require_in_references, require_references


class OnlineLiRA(ReferenceAttack):
    name = "lira_online"
    undefined_reason = (
        "have no IN or no OUT reference model; online LiRA needs both for every sample it scores"
    )

    def __init__(self, global_variance_below: int = 32):
        super().__init__()
        self.global_variance_below = require_int(
            "attacks.lira_online.global_variance_below", global_variance_below, 2
        )

    def statistic(self, target: MembershipSet) -> np.ndarray:
        references = require_references(self.name, target)
        require_in_references(self.name, references)
        phi, phi_reference = target_and_reference_phi(target, references)
        is_out = references.is_out
        below = self.global_variance_below
        mean_in, var_in = gaussian_per_sample(phi_reference, ~is_out, below, self.name, "IN")
        mean_out, var_out = gaussian_per_sample(phi_reference, is_out, below, self.name, "OUT")
        return gaussian_log_density(phi, mean_in, var_in) - gaussian_log_density(
            phi, mean_out, var_out
        )
