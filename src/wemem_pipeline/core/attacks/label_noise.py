"""Label-only membership from noise robustness (Choquette-Choo et al., ICML 2021).

A model that memorized a record keeps giving it the record's label in a neighbourhood of the
input; a record it did not train on sits closer to its decision boundary. The attack queries
the model on ``draws`` Gaussian perturbations ``x + scale * u`` (``u ~ N(0, I)``, in the
standardized features' units) at each of several ``scales`` and takes the share of
perturbations still answered with the record's label: a decision-boundary distance estimate
that needs only predicted labels. It sees through defenses that only reshape the posterior
(HAMP answers with a random input's posterior in the query's class order, which keeps the
label).

The attacker chooses the scale on the shadows (the one whose share separates their members
best, by AUC) and calibrates one global threshold there. The shares need queries on inputs no
stored logit covers, so the outputs must be recorded with a :class:`LabelNoise` probe, which
only the audit does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from ..validation import ParameterError, require_int, require_number
from .base import AttackOutput, MembershipSet
from .noise import gaussian_copies
from .threshold import best_threshold


def label_robustness(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    indices: np.ndarray,
    scales: Sequence[float],
    draws: int,
    seed: int,
    batch_size: int = 256,
) -> np.ndarray:
    """Per record of ``indices`` and scale: the share of ``draws`` Gaussian perturbations of
    its input that ``model`` labels with the record's label, ``(len(indices), len(scales))``."""
    model.eval()
    generator = torch.Generator(device=features.device).manual_seed(seed)
    index = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=features.device)
    chunks = []
    with torch.no_grad():
        for batch in index.split(batch_size):
            inputs, targets = features[batch], labels[batch]
            shares = []
            for scale in scales:
                nudged = gaussian_copies(inputs, draws, scale, generator)
                predicted = model(nudged).argmax(dim=1).view(draws, len(batch))
                shares.append((predicted == targets).float().mean(0))
            chunks.append(torch.stack(shares, dim=1).cpu())
    if not chunks:
        return np.empty((0, len(scales)), dtype=np.float32)
    return torch.cat(chunks).numpy()


class LabelNoise:
    """Label-only attack: the share of noisy queries answered with the record's label."""

    name = "label_noise"

    def __init__(self, scales: Sequence[float] = (0.1, 0.3, 1.0), draws: int = 16):
        if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not scales:
            raise ParameterError(
                f"attacks.label_noise.scales must be a list of noise scales, got {scales!r}"
            )
        self.scales = tuple(
            require_number("attacks.label_noise.scales[]", s, 0, math.inf, low_inclusive=False)
            for s in scales
        )
        self.draws = require_int("attacks.label_noise.draws", draws, 1)
        self.scale_index = 0
        self.threshold = 0.0

    def _shares(self, target: MembershipSet) -> np.ndarray:
        if target.robustness is None or target.robustness.shape[1] != len(self.scales):
            raise ValueError(
                f"{self.name} needs the models queried on noisy inputs at its "
                f"{len(self.scales)} scales: run it in the audit, which records them"
            )
        return target.robustness

    def fit(self, shadows: list[MembershipSet]) -> LabelNoise:
        shares = np.concatenate([self._shares(s) for s in shadows])
        is_member = np.concatenate([s.is_member for s in shadows])
        if is_member.all() or not is_member.any():
            self.scale_index = 0
        else:
            aucs = [roc_auc_score(is_member, column) for column in shares.T]
            self.scale_index = int(np.argmax(aucs))  # the first scale among ties
        self.threshold = best_threshold(shares[:, self.scale_index], is_member)
        return self

    def score(self, target: MembershipSet) -> AttackOutput:
        scores = self._shares(target)[:, self.scale_index] - self.threshold
        return AttackOutput(scores=scores, predicted_member=scores >= 0)
