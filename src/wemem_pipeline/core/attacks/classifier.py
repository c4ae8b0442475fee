"""Classifier attacks: a small neural network learns membership from shadow outputs.

NN sees the sorted posterior, NN_top3 its three largest entries, NN_cls the posterior in
class order with the one-hot label. The network is trained on the shadows' members
(label 1) and non-members (label 0) and scores the target's samples with its probability.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from .base import AttackOutput, MembershipSet
from .threshold import softmax

Features = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def sorted_posterior(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    return -np.sort(-softmax(logits), axis=1)


def top3_posterior(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    return sorted_posterior(logits, labels, num_classes)[:, :3]


def posterior_and_label(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.hstack([softmax(logits), np.eye(num_classes)[labels]])


class ClassifierAttack:
    """An MLP membership classifier over per-sample attack features, trained on shadows."""

    def __init__(
        self, name: str, features: Features, hidden: tuple[int, ...] = (64,), seed: int = 0
    ):
        self.name = name
        self.features = features
        self.scaler = StandardScaler()
        self.model = MLPClassifier(
            hidden_layer_sizes=hidden, max_iter=300, early_stopping=True, random_state=seed
        )
        self.num_classes = 0

    def fit(self, shadows: list[MembershipSet]) -> ClassifierAttack:
        self.num_classes = shadows[0].logits.shape[1]
        inputs = np.vstack([self.features(s.logits, s.labels, self.num_classes) for s in shadows])
        targets = np.concatenate([s.is_member for s in shadows]).astype(int)
        self.model.fit(self.scaler.fit_transform(inputs), targets)
        return self

    def score(self, target: MembershipSet) -> AttackOutput:
        inputs = self.scaler.transform(
            self.features(target.logits, target.labels, self.num_classes)
        )
        probability = self.model.predict_proba(inputs)[:, 1]
        return AttackOutput(scores=probability, predicted_member=probability >= 0.5)


CLASSIFIER_ATTACKS: dict[str, Callable[[], ClassifierAttack]] = {
    "nn": lambda: ClassifierAttack("nn", sorted_posterior),
    "nn_top3": lambda: ClassifierAttack("nn_top3", top3_posterior),
    "nn_cls": lambda: ClassifierAttack("nn_cls", posterior_and_label),
}
