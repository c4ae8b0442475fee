"""What an attack sees and returns.

An attack is calibrated on the shadow models' outputs (whose membership the attacker knows)
and then scores the victim's outputs. Every attack in ``attacks/`` implements :class:`Attack`.
Besides logits, a set may carry the model's input sensitivity (for SAMIA), the outputs of
reference models (for LiRA and RMIA) and its labels on noisy inputs (for ``label_noise``), which
:class:`~wemem_pipeline.core.outputs.ModelOutputs` fills in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


def _as_float64(instance: object, *names: str) -> None:
    """Attack signals are computed in float64: in float32 a well-fit model's ``log p_y``
    rounds to exactly 0 for many samples, and the ties hide the low-FPR end of the ROC."""
    for name in names:
        object.__setattr__(instance, name, np.asarray(getattr(instance, name), dtype=np.float64))


@dataclass(frozen=True)
class References:
    """Reference models' outputs that an offline attack compares the target model with.

    The references are the shadows other than the target itself. ``is_out`` says which
    reference did not train on a sample; for the victim's samples every reference is OUT.
    Population samples are non-members of the target that it is not scored on.
    """

    logits: np.ndarray  # references on the target's samples, (K, n, num_classes)
    is_out: np.ndarray  # bool, (K, n)
    population_labels: np.ndarray  # (m,)
    population_target_logits: np.ndarray  # the target model on the population, (m, num_classes)
    population_logits: np.ndarray  # references on the population, (K, m, num_classes)
    population_is_out: np.ndarray  # bool, (K, m)

    def __post_init__(self) -> None:
        _as_float64(self, "logits", "population_target_logits", "population_logits")


@dataclass(frozen=True)
class MembershipSet:
    """One model's logits on samples whose membership in that model is known."""

    sample_index: np.ndarray  # dataset rows, (n,)
    logits: np.ndarray  # (n, num_classes)
    labels: np.ndarray  # true classes, (n,)
    is_member: np.ndarray  # bool, (n,)
    sensitivity: np.ndarray | None = None  # input sensitivity per class, (n, num_classes)
    references: References | None = None
    robustness: np.ndarray | None = None  # share of noisy queries labelled y, (n, scales)

    def __post_init__(self) -> None:
        _as_float64(self, "logits")
        n = len(self.sample_index)
        if not (len(self.logits) == len(self.labels) == len(self.is_member) == n):
            raise ValueError("sample_index, logits, labels and is_member must have equal length")
        if self.sensitivity is not None and self.sensitivity.shape != self.logits.shape:
            raise ValueError("sensitivity must have the shape of logits")
        if self.robustness is not None and len(self.robustness) != n:
            raise ValueError("robustness must have one row per sample")
        if self.references is not None and self.references.logits.shape[1:] != self.logits.shape:
            raise ValueError("reference logits must be (K, n, num_classes) for the set's n samples")


@dataclass(frozen=True)
class AttackOutput:
    """Membership scores (higher = more likely member) and hard decisions for each sample.

    ``signal`` is the raw signal where the scores rank samples differently from it (per-class
    thresholds shift each class's scores by its own amount).
    """

    scores: np.ndarray
    predicted_member: np.ndarray
    signal: np.ndarray | None = None


class Attack(Protocol):
    name: str

    def fit(self, shadows: list[MembershipSet]) -> Attack:
        """Calibrate on the shadows' outputs; returns ``self``."""
        ...

    def score(self, target: MembershipSet) -> AttackOutput:
        """Score the target model's samples; ``target.is_member`` is never read."""
        ...
