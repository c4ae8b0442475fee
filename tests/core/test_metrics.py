"""Tests for wemem_pipeline.core.metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from wemem_pipeline.core.metrics import (
    METRIC_NAMES,
    balanced_accuracy,
    membership_metrics,
    roc_points,
    tpr_at_fpr,
)


def known_ordering() -> tuple[np.ndarray, np.ndarray]:
    """200 non-members scored 0, 1, ..., 199 and 200 members scored 150.5, ..., 349.5.

    Hand computation:

    - AUC: member 150.5 + i beats min(200, 151 + i) non-members; summed over i = 0..199 that is
      sum_{i<49} (151 + i) + 151 * 200 = 7399 + 1176 + 30200 = 38775 of 40000 pairs: 0.969375.
    - TPR at 1% FPR: at most 2 of 200 non-members may score above the threshold, so the
      threshold is 197.5 (non-members 198, 199 above it) and members 197.5 .. 349.5 are caught:
      153 of 200 = 0.765.
    - TPR at 0.1% FPR: no non-member may pass, threshold 199.5: members 199.5 .. 349.5, 151 of 200.
    """
    scores = np.concatenate([np.arange(200.0), 150.5 + np.arange(200.0)])
    is_member = np.repeat([False, True], 200)
    return is_member, scores


def test_membership_metrics_on_known_ordering():
    is_member, scores = known_ordering()
    # Decisions "score >= 120": TPR 200/200, TNR 120/200, balanced accuracy 0.8.
    metrics = membership_metrics(is_member, scores, scores >= 120)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["auc"] == pytest.approx(38775 / 40000, abs=1e-12)
    assert metrics["balanced_accuracy"] == pytest.approx(0.8, abs=1e-12)
    assert metrics["tpr_at_1pct_fpr"] == pytest.approx(153 / 200, abs=1e-12)
    assert metrics["tpr_at_0_1pct_fpr"] == pytest.approx(151 / 200, abs=1e-12)


def test_auc_matches_a_brute_force_pair_count():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, 300).astype(float)  # many ties
    is_member = rng.random(300) < 0.4
    members, non_members = scores[is_member], scores[~is_member]
    wins = (members[:, None] > non_members[None, :]).sum()
    ties = (members[:, None] == non_members[None, :]).sum()
    expected = (wins + 0.5 * ties) / (len(members) * len(non_members))
    metrics = membership_metrics(is_member, scores, scores > 10)
    assert metrics["auc"] == pytest.approx(expected, abs=1e-12)


def test_perfect_separation():
    is_member = np.repeat([False, True], 500)
    scores = np.concatenate([np.linspace(0, 1, 500), np.linspace(2, 3, 500)])
    metrics = membership_metrics(is_member, scores, scores > 1.5)
    assert metrics == {
        "balanced_accuracy": 1.0,
        "auc": 1.0,
        "tpr_at_1pct_fpr": 1.0,
        "tpr_at_0_1pct_fpr": 1.0,
    }


def test_reversed_scores_give_auc_zero():
    is_member = np.repeat([False, True], 50)
    scores = np.concatenate([np.arange(50.0, 100.0), np.arange(50.0)])
    metrics = membership_metrics(is_member, scores, scores > 1000)
    assert metrics["auc"] == 0.0
    assert metrics["tpr_at_1pct_fpr"] == 0.0
    assert metrics["balanced_accuracy"] == 0.5  # nobody predicted a member


def test_random_scores_give_chance():
    rng = np.random.default_rng(42)
    n = 20_000
    is_member = rng.random(n) < 0.5
    scores = rng.random(n)
    metrics = membership_metrics(is_member, scores, scores > 0.5)
    assert metrics["auc"] == pytest.approx(0.5, abs=0.03)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5, abs=0.03)
    assert metrics["tpr_at_1pct_fpr"] == pytest.approx(0.01, abs=0.01)


def test_tpr_at_fpr_exact_on_tiny_example():
    # Ranked by score: M(.9) N(.8) M(.7) M(.6) N(.4) N(.35) M(.3) N(.1)
    is_member = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.7, 0.6, 0.3])
    assert tpr_at_fpr(is_member, scores, 0.01) == 0.25  # no false positive allowed
    assert tpr_at_fpr(is_member, scores, 0.2) == 0.25  # one false positive is 25% FPR
    assert tpr_at_fpr(is_member, scores, 0.25) == 0.75
    assert tpr_at_fpr(is_member, scores, 0.5) == 0.75
    assert tpr_at_fpr(is_member, scores, 0.75) == 1.0
    assert tpr_at_fpr(is_member, scores, 0.99) == 1.0


def test_balanced_accuracy_by_hand():
    is_member = np.array([1, 1, 1, 1, 0, 0], dtype=bool)
    predicted = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    # TPR 3/4, TNR 1/2.
    assert balanced_accuracy(is_member, predicted) == pytest.approx(0.625)
    # Imbalance does not reward "everyone is a member".
    assert balanced_accuracy(is_member, np.ones(6, dtype=bool)) == 0.5


def test_membership_metrics_needs_both_classes():
    with pytest.raises(ValueError, match="both members and non-members"):
        membership_metrics(np.ones(4, dtype=bool), np.arange(4.0), np.ones(4, dtype=bool))


def test_roc_points_span_the_unit_square():
    is_member, scores = known_ordering()
    fpr, tpr = roc_points(is_member, scores)
    assert fpr[0] == 0.0 and tpr[0] == 0.0
    assert fpr[-1] == 1.0 and tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(38775 / 40000)
