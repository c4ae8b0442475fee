"""Every membership metric, computed in one place from membership scores and decisions."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from .validation import require_number

LOW_FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0_1pct_fpr": 0.001}
METRIC_NAMES = ("balanced_accuracy", "auc", *LOW_FPRS)


def balanced_accuracy(is_member: np.ndarray, predicted_member: np.ndarray) -> float:
    """``0.5 * (TPR + TNR)`` of hard membership decisions, the attack accuracy the paper uses."""
    is_member = np.asarray(is_member, dtype=bool)
    predicted_member = np.asarray(predicted_member, dtype=bool)
    tpr = predicted_member[is_member].mean()
    tnr = (~predicted_member[~is_member]).mean()
    return float(0.5 * (tpr + tnr))


def tpr_at_fpr(is_member: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """Highest true-positive rate among thresholds whose false-positive rate is <= ``max_fpr``."""
    require_number("max_fpr", max_fpr, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    fpr, tpr, _ = roc_curve(np.asarray(is_member, dtype=bool), np.asarray(scores, dtype=float))
    return float(tpr[fpr <= max_fpr].max())


def membership_metrics(
    is_member: np.ndarray, scores: np.ndarray, predicted_member: np.ndarray
) -> dict[str, float]:
    """Balanced accuracy of the decisions; AUC and low-FPR TPRs of the scores.

    Higher scores mean "more likely a member".
    """
    is_member = np.asarray(is_member, dtype=bool)
    if is_member.all() or not is_member.any():
        raise ValueError("membership metrics need both members and non-members")
    metrics = {
        "balanced_accuracy": balanced_accuracy(is_member, predicted_member),
        "auc": float(roc_auc_score(is_member, np.asarray(scores, dtype=float))),
    }
    for name, fpr in LOW_FPRS.items():
        metrics[name] = tpr_at_fpr(is_member, scores, fpr)
    return metrics


def roc_points(is_member: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of the ROC curve."""
    fpr, tpr, _ = roc_curve(np.asarray(is_member, dtype=bool), np.asarray(scores, dtype=float))
    return fpr, tpr
