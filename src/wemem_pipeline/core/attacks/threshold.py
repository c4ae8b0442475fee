"""Threshold attacks (Song & Mittal 2021): one signal per sample, thresholds learned on shadows.

Conf, Entr and Mentr learn one threshold per class; Hconf, Loss and Correctness one global
threshold. A sample's
membership score is its signal minus the threshold of its class, so scores are comparable
across classes and the decision is ``score >= 0``. The AUC of a per-class attack therefore
ranks ``signal - threshold[class]``; the raw signal's ranking is returned beside it
(``AttackOutput.signal``) and reported as ``raw_signal_auc``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from .base import AttackOutput, MembershipSet

_EPS = 1e-30


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def true_class_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probability of the true class."""
    return softmax(logits)[np.arange(len(labels)), labels]


def negative_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``sum p log p``: members get more confident, lower-entropy posteriors."""
    p = softmax(logits)
    return (p * np.log(np.maximum(p, _EPS))).sum(axis=1)


def negative_modified_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Minus Song & Mittal's modified entropy, which is low when the true class is confident.

    ``Mentr = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)``.
    """
    p = softmax(logits)
    rows = np.arange(len(labels))
    p_true = p[rows, labels]
    wrong = p * np.log(np.maximum(1.0 - p, _EPS))
    wrong[rows, labels] = 0.0
    mentr = -(1.0 - p_true) * np.log(np.maximum(p_true, _EPS)) - wrong.sum(axis=1)
    return -mentr


def top_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Largest class probability, whatever the label."""
    return softmax(logits).max(axis=1)


def scaled_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``log p_y - log sum_{y' != y} p_y'`` computed from logits without rounding to inf."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    true = np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    others = np.where(np.arange(logits.shape[-1]) == labels[..., None], -np.inf, logits)
    return true - logsumexp(others, axis=-1)


def negative_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Minus the cross-entropy loss of the true class: members have lower loss.

    ``log p_y = -log(1 + exp(-phi))`` with ``phi`` LiRA's logit-scaled confidence, which keeps
    the loss of a near-saturated posterior (``p_y`` within 1e-16 of 1) from rounding to 0.
    """
    return -np.logaddexp(0.0, -scaled_confidence(logits, labels))


def correctness(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 where the prediction is right: the cheapest attack ("correct means member")."""
    return (logits.argmax(axis=1) == labels).astype(float)


def best_threshold(values: np.ndarray, is_member: np.ndarray) -> float:
    """Threshold ``t`` maximising the balanced accuracy of the rule ``value >= t``."""
    is_member = np.asarray(is_member, dtype=bool)
    if is_member.all() or not is_member.any():
        return float(np.median(values)) if len(values) else 0.0
    order = np.argsort(-values, kind="stable")
    sorted_values, sorted_member = values[order], is_member[order]
    # Predicting "member" for the top j samples, for every j; ties must move together.
    tpr = np.cumsum(sorted_member) / is_member.sum()
    fpr = np.cumsum(~sorted_member) / (~is_member).sum()
    last_of_tie = np.append(sorted_values[1:] != sorted_values[:-1], True)
    score = np.where(last_of_tie, 0.5 * (tpr + 1.0 - fpr), -np.inf)
    best = int(np.argmax(score))
    if 0.5 * (tpr[best] + 1.0 - fpr[best]) <= 0.5:
        return float(sorted_values[0]) + 1.0  # no rule beats "nobody is a member"
    return float(sorted_values[best])


Signal = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ThresholdAttack:
    """Calibrate a threshold on the shadows' signal values; per class or global."""

    def __init__(self, name: str, signal: Signal, per_class: bool = True):
        self.name = name
        self.signal = signal
        self.per_class = per_class
        self.global_threshold = 0.0
        self.class_thresholds: dict[int, float] = {}

    def fit(self, shadows: list[MembershipSet]) -> ThresholdAttack:
        values = np.concatenate([self.signal(s.logits, s.labels) for s in shadows])
        labels = np.concatenate([s.labels for s in shadows])
        is_member = np.concatenate([s.is_member for s in shadows])
        self.global_threshold = best_threshold(values, is_member)
        if self.per_class:
            self.class_thresholds = {
                int(c): best_threshold(values[labels == c], is_member[labels == c])
                for c in np.unique(labels)
            }
        return self

    def score(self, target: MembershipSet) -> AttackOutput:
        values = self.signal(target.logits, target.labels)
        thresholds = np.array(
            [self.class_thresholds.get(int(c), self.global_threshold) for c in target.labels]
        )
        scores = values - thresholds
        return AttackOutput(
            scores=scores, predicted_member=scores >= 0, signal=values if self.per_class else None
        )


THRESHOLD_ATTACKS: dict[str, Callable[[], ThresholdAttack]] = {
    "conf": lambda: ThresholdAttack("conf", true_class_confidence),
    "entr": lambda: ThresholdAttack("entr", negative_entropy),
    "mentr": lambda: ThresholdAttack("mentr", negative_modified_entropy),
    "hconf": lambda: ThresholdAttack("hconf", top_confidence, per_class=False),
    "loss": lambda: ThresholdAttack("loss", negative_loss, per_class=False),
    "correctness": lambda: ThresholdAttack("correctness", correctness, per_class=False),
}
