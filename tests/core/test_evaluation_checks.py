"""Tests for what makes an attack number trustworthy: bootstrap intervals, the chance reference
of the strongest attack, the shift check, float64 signals, verdicts and ``evaluation`` settings.

Synthetic data with a known answer throughout: indicator weights must reproduce the plain
metrics, a victim unrelated to its members must not look leaky, a planted shift between the
dataset's two files must show in the shift check and vanish with ``nonmember_source=pool``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core.attacks import MembershipSet
from wemem_pipeline.core.attacks.threshold import THRESHOLD_ATTACKS, negative_loss
from wemem_pipeline.core.evaluation import evaluate_stages
from wemem_pipeline.core.metrics import (
    INTERVAL_METRICS,
    METRIC_NAMES,
    bootstrap_intervals,
    membership_metrics,
    shuffled_label_metrics,
    weighted_metrics,
)
from wemem_pipeline.core.outputs import ModelOutputs, stand_in
from wemem_pipeline.core.reports.tables import attack_dict, stage_checks
from wemem_pipeline.core.run_config import EvaluationConfig
from wemem_pipeline.core.splits import SplitConfig, model_names, roles_of, split_samples
from wemem_pipeline.core.validation import ParameterError, from_mapping
from wemem_pipeline.core.verdicts import (
    LOWERED,
    RAISED,
    UNCLEAR,
    UNRESOLVABLE,
    interval_verdict,
    seed_verdict,
    unresolved_sentence,
)


def scored_set(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` members and ``n`` non-members; member scores shifted up; scores rounded to make
    ties. Decisions: score above 0."""
    rng = np.random.default_rng(seed)
    is_member = np.repeat([True, False], n)
    scores = np.round(rng.normal(size=2 * n) + shift * is_member, 1)
    return is_member, scores, scores > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weights", [float, int, bool])
@pytest.mark.parametrize("highest_first", [False, True])
def test_indicator_weights_reproduce_the_plain_metrics(
    seed: int, weights: type, highest_first: bool
) -> None:
    is_member, scores, decisions = scored_set(300, 0.4, seed)
    if highest_first:  # the audit's pooled rows arrive sorted and skip the reordering
        order = np.argsort(-scores, kind="stable")
        is_member, scores, decisions = is_member[order], scores[order], decisions[order]
    weighted = weighted_metrics(
        scores,
        decisions,
        is_member[None].astype(weights),
        (~is_member)[None].astype(weights),
        METRIC_NAMES,
    )
    plain = membership_metrics(is_member, scores, decisions)
    for metric in METRIC_NAMES:
        assert weighted[metric][0] == pytest.approx(plain[metric], abs=1e-12), metric


def test_bootstrap_intervals_cover_the_estimate_shrink_with_size_and_are_seeded() -> None:
    small = scored_set(100, 0.5, 0)
    large = scored_set(2000, 0.5, 0)
    plain = membership_metrics(*large)
    narrow = bootstrap_intervals(*large, resamples=500, seed=3)
    wide = bootstrap_intervals(*small, resamples=500, seed=3)
    for metric in INTERVAL_METRICS:
        low, high = narrow[metric]
        assert low <= plain[metric] <= high, metric
        assert high - low < wide[metric][1] - wide[metric][0], metric
    # AUC's sampling spread at n per side is about sqrt(1/(12 n)) * 1.4 each way for AUC near
    # 0.6; the 95% interval at n = 2000 is therefore about +-0.018.
    assert 0.02 < narrow["auc"][1] - narrow["auc"][0] < 0.05
    assert bootstrap_intervals(*small, resamples=500, seed=3) == wide
    assert bootstrap_intervals(*small, resamples=500, seed=4) != wide


def test_perfect_separation_has_a_degenerate_interval() -> None:
    is_member = np.repeat([True, False], 50)
    scores = np.where(is_member, 2.0, 1.0) + np.arange(100) * 1e-3
    intervals = bootstrap_intervals(is_member, scores, is_member, resamples=200, seed=0)
    assert intervals["auc"] == (1.0, 1.0)
    assert intervals["balanced_accuracy"] == (1.0, 1.0)


def test_the_strongest_of_several_attacks_beats_one_under_no_leakage() -> None:
    rng = np.random.default_rng(0)
    is_member = np.repeat([True, False], 220)
    outputs = [(s, s > 0) for s in rng.normal(size=(12, 440))]  # twelve unrelated scorings
    one = shuffled_label_metrics(is_member, outputs[:1], 200, seed=1)
    twelve = shuffled_label_metrics(is_member, outputs, 200, seed=1)
    assert abs(one["auc"].mean() - 0.5) < 0.01
    # The maximum of twelve AUCs, each with sd ~0.028 at 220 per side, sits well above 0.5.
    assert twelve["auc"].mean() > 0.53
    assert (twelve["auc"] >= one["auc"]).all()


# ----------------------------------------------------------------------------- float64 ties


def test_near_saturated_posteriors_keep_their_order_in_float64() -> None:
    """float32 rounds ``log p_y`` to 0 beyond a margin of ~17: the ties hide the low-FPR end."""
    rng = np.random.default_rng(0)
    n, classes = 400, 10
    margins = np.concatenate([rng.uniform(22, 40, n), rng.uniform(12, 34, n)])
    logits = np.zeros((2 * n, classes), dtype=np.float32)
    logits[:, 0] = margins
    labels = np.zeros(2 * n, dtype=np.int64)
    is_member = np.repeat([True, False], n)
    shifted = logits - logits.max(axis=1, keepdims=True)  # the log-softmax, as it was done
    in_float32 = shifted[:, 0] - np.log(np.exp(shifted).sum(axis=1))
    assert in_float32.dtype == np.float32 and (in_float32 == 0).mean() > 0.5  # the ties
    assert len(np.unique(negative_loss(logits, labels))) == 2 * n
    target = MembershipSet(np.arange(2 * n), logits, labels, is_member)
    assert target.logits.dtype == np.float64
    attack = THRESHOLD_ATTACKS["loss"]().fit([target])
    result = attack.score(target)
    metrics = membership_metrics(is_member, result.scores, result.predicted_member)
    # Members with margins above every non-member's (34 .. 40, a third of them) are caught.
    assert metrics["tpr_at_1pct_fpr"] > 0.25
    assert len(np.unique(result.scores)) == 2 * n


# ----------------------------------------------------------------------------- planted data

ATTACKS = {"names": ["conf", "mentr", "loss", "nn", "lira", "rmia"]}


def planted_outputs(
    leak: bool, shift: float, nonmember_source: str = "paper", seed: int = 0
) -> tuple[ModelOutputs, pd.DataFrame, np.ndarray]:
    """Shadows whose members get a confidence boost of 2; the victim gets it only if ``leak``.
    Every model is ``shift`` more confident on the dataset's training file than on its test
    file (a distribution shift between the files)."""
    rng = np.random.default_rng(seed)
    num_train, num_test, classes = 1600, 800, 4
    is_test = np.repeat([False, True], [num_train, num_test])
    labels = rng.integers(0, classes, num_train + num_test)
    table = split_samples(
        is_test, SplitConfig(num_shadows=3, nonmember_source=nonmember_source), seed
    )
    outputs = ModelOutputs(np.arange(num_train + num_test))
    difficulty = rng.normal(size=len(labels))  # shared by all models, as real data would be
    for name in model_names(table):
        members = roles_of(table, name)["member"]
        confidence = 1.0 + difficulty + shift * ~is_test + rng.normal(0, 0.5, len(labels))
        if leak or name != "victim":
            confidence[members] += 2.0
        logits = rng.normal(0, 0.3, (len(labels), classes))
        logits[np.arange(len(labels)), labels] += confidence
        outputs.logits[name] = logits.astype(np.float32)
    return outputs, table, labels


def checks_of(leak: bool, shift: float, nonmember_source: str = "paper") -> dict:
    outputs, table, labels = planted_outputs(leak, shift, nonmember_source)
    evaluation = EvaluationConfig(bootstrap=200, null_permutations=100)
    metrics, _ = evaluate_stages({"s": outputs}, table, labels, ATTACKS, 0, evaluation=evaluation)
    attacks = attack_dict(metrics, "s")
    strongest_auc = max(values["auc"] for values in attacks.values())
    return {"strongest_auc": strongest_auc, **stage_checks(metrics, "s")}


def test_a_victim_unrelated_to_its_members_is_not_reported_as_leaking() -> None:
    checks = checks_of(leak=False, shift=0.0)
    assert checks["strongest_auc"] < checks["chance"]["auc"]["q95"]
    assert not any(checks["above_chance"].values())
    assert checks["shift"]["auc"] < checks["chance"]["auc"]["q95"]


def test_a_leaking_victim_is_far_above_chance() -> None:
    checks = checks_of(leak=True, shift=0.0)
    assert checks["strongest_auc"] > 0.8 > checks["chance"]["auc"]["q95"]
    assert all(checks["above_chance"].values())
    assert checks["shift"]["auc"] < checks["chance"]["auc"]["q95"]


def test_the_shift_check_sees_a_shift_between_the_files_and_pool_sources_remove_it() -> None:
    shifted = checks_of(leak=False, shift=1.5)
    # The shift passes for membership on the victim, and the shift check shows why.
    assert shifted["strongest_auc"] > 0.6
    assert shifted["shift"]["auc"] > 0.6
    pooled = checks_of(leak=False, shift=1.5, nonmember_source="pool")
    assert pooled["strongest_auc"] < pooled["chance"]["auc"]["q95"]
    assert pooled["shift"]["auc"] < pooled["chance"]["auc"]["q95"]


def test_the_stand_in_is_the_first_shadow_and_never_the_target() -> None:
    _, table, _ = planted_outputs(leak=False, shift=0.0)
    assert stand_in(table) == "shadow_0"
    assert stand_in(table, "shadow_0") == "victim"


def test_pool_sources_keep_the_test_file_out_and_the_sizes() -> None:
    """With a training file large enough for a capped pool (fashion_mnist's 60k/10k with 10k
    per pool, scaled down), both sources give every model the same number of each role."""
    is_test = np.repeat([False, True], [6000, 1000])
    paper = split_samples(is_test, SplitConfig(num_shadows=2, pool_size=1000), 0)
    config = SplitConfig(num_shadows=2, pool_size=1000, nonmember_source="pool")
    pool = split_samples(is_test, config, 0)
    assert not np.isin(pool["sample_index"], np.flatnonzero(is_test)).any()
    assert paper.groupby(["model", "role"]).size().equals(pool.groupby(["model", "role"]).size())


# ----------------------------------------------------------------------------- verdicts


def test_interval_verdicts_need_separate_intervals() -> None:
    assert interval_verdict((0.55, 0.65), (0.45, 0.54)) == LOWERED
    assert interval_verdict((0.55, 0.65), (0.66, 0.70)) == RAISED
    assert interval_verdict((0.55, 0.65), (0.50, 0.56)) == UNCLEAR


def test_seed_verdicts_pair_the_seeds() -> None:
    # Lower in every seed by about 0.02 with little spread: lowered.
    verdict, difference, half_width = seed_verdict([0.60, 0.58, 0.62], [0.58, 0.56, 0.60])
    assert verdict == LOWERED and difference == pytest.approx(-0.02)
    assert half_width == pytest.approx(0.0, abs=1e-12)
    # Same mean difference, but the seeds disagree: no clear difference.
    assert seed_verdict([0.60, 0.58, 0.62], [0.64, 0.50, 0.60])[0] == UNCLEAR
    assert seed_verdict([0.5, 0.5], [0.6, 0.61])[0] == RAISED


def test_a_verdict_without_a_direction_names_what_would_resolve_it() -> None:
    unclear = {"auc": UNCLEAR, "tpr_at_1pct_fpr": UNRESOLVABLE}
    sentence = unresolved_sentence(unclear, "digits", 352)
    assert sentence is not None and "352 scored pairs" in sentence and "--env=fmnist" in sentence
    elsewhere = unresolved_sentence(unclear, "adult", 5000)
    assert elsewhere is not None and "evaluation.seeds=3" in elsewhere and "fmnist" not in elsewhere
    for resolved in (LOWERED, RAISED):
        assert (
            unresolved_sentence({"auc": UNCLEAR, "tpr_at_1pct_fpr": resolved}, "digits", 1) is None
        )


# ----------------------------------------------------------------------------- settings


def test_evaluation_seeds_are_a_count_or_a_list() -> None:
    assert EvaluationConfig(seeds=3).seed_list(4) == [4, 5, 6]
    assert EvaluationConfig(seeds=[0, 4, 7]).seed_list(9) == [0, 4, 7]
    assert EvaluationConfig().seed_list(2) == [2]


@pytest.mark.parametrize(
    "values",
    [
        {"seeds": 0},
        {"seeds": -2},
        {"seeds": []},
        {"seeds": [1, 1]},
        {"seeds": [1.5, 2]},
        {"seeds": [-1, 2]},
        {"seeds": True},
        {"seeds": "3"},
        {"bootstrap": 99},
        {"null_permutations": 5},
    ],
)
def test_bad_evaluation_settings_are_refused_by_name(values: dict) -> None:
    with pytest.raises(ParameterError, match=f"evaluation.{next(iter(values))}"):
        from_mapping(EvaluationConfig, "evaluation", values)


def test_an_unknown_nonmember_source_is_refused() -> None:
    with pytest.raises(ParameterError, match="split.nonmember_source"):
        SplitConfig(nonmember_source="test")
