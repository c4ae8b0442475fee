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


# Metrics that get a bootstrap interval and a chance reference (TPR@0.1%FPR is too coarse).
INTERVAL_METRICS = ("balanced_accuracy", "auc", "tpr_at_1pct_fpr")
_CHUNK = 256  # resamples per vectorised block: bounds memory at (chunk x samples) floats


def weighted_metrics(
    scores: np.ndarray,
    predicted_member: np.ndarray,
    member_weights: np.ndarray,
    non_member_weights: np.ndarray,
    names: tuple[str, ...] = INTERVAL_METRICS,
) -> dict[str, np.ndarray]:
    """``names`` (of :data:`METRIC_NAMES`) of many reweightings of one scored set at once.

    Row ``r`` of the ``(R, n)`` weight matrices says how often each sample counts as a member
    and as a non-member: bootstrap counts, or shuffled 0/1 labels. With the true labels as
    weights the values equal :func:`membership_metrics` (ties count half for AUC). Integer or
    boolean weights are summed exactly; scores that arrive sorted (highest first) skip the
    reordering, which is most of the cost on large sets.
    """
    scores = np.asarray(scores, dtype=np.float64)
    predicted = np.asarray(predicted_member, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    presorted = bool((order == np.arange(len(order))).all())
    sorted_scores = scores[order]
    # The ROC moves one group of tied scores at a time.
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ties = len(group_starts) < len(scores)
    results = {name: [] for name in names}
    for start in range(0, len(member_weights), _CHUNK):
        members = np.asarray(member_weights[start : start + _CHUNK])
        non_members = np.asarray(non_member_weights[start : start + _CHUNK])
        exact = np.float64 if members.dtype.kind == "f" else np.int64
        total_members = members.sum(axis=1, dtype=exact)
        total_non = non_members.sum(axis=1, dtype=exact)
        # Running sums of counts in 32 bits where they fit: twice as fast as 64.
        fits = max(total_members.max(), total_non.max()) < 2**31
        running = np.int32 if exact is np.int64 and fits else exact
        hit_rate = (members @ predicted.astype(exact)) / total_members
        reject_rate = (non_members @ (~predicted).astype(exact)) / total_non
        if not presorted:
            members, non_members = members[:, order], non_members[:, order]
        if ties:
            members = np.add.reduceat(members, group_starts, axis=1, dtype=running)
            non_members = np.add.reduceat(non_members, group_starts, axis=1, dtype=running)
        members_above = np.cumsum(members, axis=1, dtype=running)
        # Each non-member group ranks below the members above it and ties half its own.
        pairs_below = np.einsum("ij,ij->i", non_members, members_above, dtype=exact)
        tied_pairs = np.einsum("ij,ij->i", non_members, members, dtype=exact)
        auc = (pairs_below - tied_pairs / 2) / (total_members * total_non)
        non_members_above = np.cumsum(non_members, axis=1, dtype=running)
        for name in names:
            if name == "auc":
                results[name].append(auc)
            elif name == "balanced_accuracy":
                results[name].append(0.5 * (hit_rate + reject_rate))
            else:  # the last threshold whose FPR is within the bound
                within = LOW_FPRS[name] * total_non
                if running is not np.float64:  # an integer bound keeps the search in integers
                    within = np.floor(within * (1 + 1e-12)).astype(running)
                last = np.array(
                    [
                        np.searchsorted(row, bound, "right")
                        for row, bound in zip(non_members_above, within, strict=True)
                    ]
                )
                above = members_above[np.arange(len(last)), last - 1]
                results[name].append(np.where(last > 0, above, 0) / total_members)
    return {name: np.concatenate(values) for name, values in results.items()}


def bootstrap_intervals(
    is_member: np.ndarray,
    scores: np.ndarray,
    predicted_member: np.ndarray,
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of :data:`INTERVAL_METRICS`.

    Members and non-members are resampled separately (so every resample keeps the sizes),
    all ``resamples`` at once as a count matrix.
    """
    is_member = np.asarray(is_member, dtype=bool)
    rng = np.random.default_rng(seed)

    def counts(side: np.ndarray) -> np.ndarray:
        positions = np.flatnonzero(side)
        draws = positions[rng.integers(0, len(positions), size=(resamples, len(positions)))]
        flat = (draws + len(side) * np.arange(resamples)[:, None]).ravel()
        return np.bincount(flat, minlength=resamples * len(side)).reshape(resamples, len(side))

    values = weighted_metrics(scores, predicted_member, counts(is_member), counts(~is_member))
    tail = 100 * (1 - level) / 2
    return {
        name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        for name, v in values.items()
    }


def shuffled_label_metrics(
    is_member: np.ndarray,
    outputs: list[tuple[np.ndarray, np.ndarray]],
    permutations: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The strongest of several attacks under no leakage, once per label shuffle.

    ``outputs`` holds every attack's ``(scores, predicted_member)`` on the same samples. The
    member labels are shuffled (same shuffles for every attack, sizes kept) and, per shuffle,
    the largest value over the attacks of each metric is returned: what "the strongest
    attack" reaches by chance.
    """
    is_member = np.asarray(is_member, dtype=bool)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(is_member) for _ in range(permutations)])
    per_attack = [
        weighted_metrics(scores, predicted, shuffled, ~shuffled) for scores, predicted in outputs
    ]
    return {
        name: np.max([values[name] for values in per_attack], axis=0) for name in INTERVAL_METRICS
    }
