"""Tests for wemem_pipeline.core.defenses (RSW, RMR, SWMR) and how the training loop uses them.

Toy datasets small enough to write the right answer down by hand; the training tests use a
tiny MLP for a few epochs (well under a second each on 2 CPU cores).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from wemem_pipeline.core.defenses import (
    BASELINE_NAMES,
    DEFENSE_NAMES,
    DEFENSES,
    WEMEM_NAMES,
    Defense,
    DefenseContext,
    GroupOptimizer,
    NoDefense,
    SampleGroup,
    build_defense,
    check_defense_settings,
)
from wemem_pipeline.core.defenses.risky import RiskyConfig, risky_mask
from wemem_pipeline.core.defenses.rmr import RMR
from wemem_pipeline.core.defenses.rsw import RSW
from wemem_pipeline.core.defenses.swmr import SWMR
from wemem_pipeline.core.defenses.windows import ClassWindows, WindowConfig, window_coverage
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.pruning import PruningConfig, RoundRecord, schedule_of, train_schedule
from wemem_pipeline.core.training import TrainConfig, TrainResult, fit, make_optimizer
from wemem_pipeline.core.validation import ParameterError

# ----------------------------------------------------------------------------- toy data
# 30 samples; the members are rows 10-15 (class 0) and 20-22 (class 1); the other rows are
# not members (class 2), so a window that leaked non-members or mixed up rows would show.
LABELS = np.full(30, 2, dtype=np.int64)
LABELS[10:16] = 0
LABELS[20:23] = 1
MEMBERS = np.array([10, 11, 12, 13, 14, 15, 20, 21, 22])
# One score per member, in the order of MEMBERS. Low to high:
#   class 0: 11 (.1), 15 (.2), 13 (.3), 10 (.5), 14 (.7), 12 (.9)
#   class 1: 21 (.4), 20 (.6), 22 (.8)
SCORES = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.6, 0.4, 0.8])
CLASS0_LOW_TO_HIGH = [11, 15, 13, 10, 14, 12]
CLASS1_LOW_TO_HIGH = [21, 20, 22]
NUM_CLASSES = 3


def context(mem_scores: pd.DataFrame | None, base_weight_decay: float = 5e-4) -> DefenseContext:
    """The members' context: every label of the 30 rows, and the mem-score table given."""
    return DefenseContext(MEMBERS, LABELS, NUM_CLASSES, mem_scores, base_weight_decay, seed=0)


def windows(config: WindowConfig, seed: int = 0, scores=SCORES, members=MEMBERS) -> ClassWindows:
    return ClassWindows(members, LABELS, scores, config, seed)


def window_set(source: Any, epoch: int) -> set[int]:
    """Samples of ``epoch``: a ClassWindows' window, or the union of a defense's groups."""
    if hasattr(source, "plan_epoch"):
        return {int(x) for group in source.plan_epoch(epoch) for x in group.indices}
    return set(source.window(epoch).tolist())


def groups_of(defense: Any, epoch: int) -> dict[str, set[int]]:
    return {group.name: set(group.indices.tolist()) for group in defense.plan_epoch(epoch)}


# ----------------------------------------------------------------------------- windows


def test_windows_low_to_high_with_counts():
    w = windows(WindowConfig(width=2, stride=1))
    assert window_set(w, 0) == {11, 15} | {21, 20}
    assert window_set(w, 1) == {15, 13} | {20, 22}
    assert window_set(w, 2) == {13, 10} | {22}
    # Class 1 is exhausted from epoch 3 on; class 0 still contributes its full window.
    assert window_set(w, 3) == {10, 14}
    assert window_set(w, 4) == {14, 12}
    assert window_set(w, 5) == {12}
    assert window_set(w, 6) == set()
    assert window_set(w, 50) == set()


def test_windows_high_to_low_with_counts():
    w = windows(WindowConfig(width=2, stride=1, order="high_to_low"))
    assert window_set(w, 0) == {12, 14} | {22, 20}
    assert window_set(w, 1) == {14, 10} | {20, 21}
    assert window_set(w, 2) == {10, 13} | {21}
    assert window_set(w, 3) == {13, 15}


def test_windows_stride_larger_than_width_skips_ranks():
    w = windows(WindowConfig(width=1, stride=2))
    assert window_set(w, 0) == {11, 21}
    assert window_set(w, 1) == {13, 22}
    assert window_set(w, 2) == {14}  # class 1 (3 members) is past its end: nothing from it


def test_windows_with_fractions_of_each_class():
    # Class 0: 8 members (rows 0-7), class 1: 4 members (rows 8-11); score = row number.
    labels = np.array([0] * 8 + [1] * 4, dtype=np.int64)
    members = np.arange(12)
    w = ClassWindows(members, labels, members.astype(float), WindowConfig(0.5, 0.25))
    # width 0.5 -> 4 of class 0 and 2 of class 1; stride 0.25 -> 2 and 1.
    assert window_set(w, 0) == {0, 1, 2, 3} | {8, 9}
    assert window_set(w, 1) == {2, 3, 4, 5} | {9, 10}
    assert window_set(w, 2) == {4, 5, 6, 7} | {10, 11}
    assert window_set(w, 3) == {6, 7} | {11}
    assert window_set(w, 4) == set()


def test_small_fractions_still_take_one_sample_per_class():
    w = windows(WindowConfig(width=0.01, stride=0.01))
    assert window_set(w, 0) == {11, 21}
    assert window_set(w, 1) == {CLASS0_LOW_TO_HIGH[1], CLASS1_LOW_TO_HIGH[1]}


@pytest.mark.parametrize("stride", [0, 0.0, -1])
def test_a_window_that_never_moves_is_refused(stride):
    with pytest.raises(ParameterError, match=r"stride must be > 0"):
        WindowConfig(width=0.25, stride=stride)


def test_a_short_class_never_shortens_another_class():
    # Class 1 (3 members) runs out first; class 0 (6 members) must keep its full width-3
    # window as long as it has ranks left, whatever the class order.
    w = windows(WindowConfig(width=3, stride=2))
    assert window_set(w, 1) == {13, 10, 14} | {22}
    assert window_set(w, 2) == {14, 12}  # class 0 clipped only by its own length
    assert window_set(w, 2).isdisjoint(CLASS1_LOW_TO_HIGH)
    for epoch in range(4):
        in_class0 = window_set(w, epoch) & set(CLASS0_LOW_TO_HIGH)
        assert in_class0 == set(CLASS0_LOW_TO_HIGH[2 * epoch : 2 * epoch + 3])


def test_width_larger_than_a_class_gives_the_whole_class():
    for width in (100, 1.0):
        w = windows(WindowConfig(width=width, stride=1))
        assert window_set(w, 0) == set(MEMBERS.tolist())
    w = windows(WindowConfig(width=5, stride=1))
    assert window_set(w, 0) == set(CLASS0_LOW_TO_HIGH[:5]) | set(CLASS1_LOW_TO_HIGH)


def test_windows_hold_only_members_and_no_duplicates():
    w = windows(WindowConfig(width=4, stride=1))
    for epoch in range(8):
        window = w.window(epoch)
        assert len(window) == len(set(window.tolist()))
        assert set(window.tolist()) <= set(MEMBERS.tolist())


def test_ties_are_ordered_by_sample_index_whatever_the_member_order():
    ties = np.zeros(len(MEMBERS))
    low = windows(WindowConfig(width=2, stride=2), scores=ties)
    assert window_set(low, 0) == {10, 11, 20, 21}
    assert window_set(low, 1) == {12, 13, 22}
    shuffled = np.random.default_rng(1).permutation(MEMBERS)
    again = windows(WindowConfig(width=2, stride=2), scores=ties, members=shuffled)
    for epoch in range(4):
        assert window_set(again, epoch) == window_set(low, epoch)
    high = windows(WindowConfig(width=2, stride=2, order="high_to_low"), scores=ties)
    assert window_set(high, 0) == {15, 14, 22, 21}  # exactly the reverse of low_to_high


def _sweep(w: ClassWindows, label: int, size: int) -> list[int]:
    """A class's members in window order (width 1, stride 1 shows one rank per epoch)."""
    return [int(x) for e in range(size) for x in w.window(e) if LABELS[x] == label]


def test_random_order_is_a_fixed_seeded_permutation_independent_of_scores():
    config = WindowConfig(width=1, stride=1, order="random")
    first = windows(config, seed=7)
    order0 = _sweep(first, 0, 6)
    assert sorted(order0) == sorted(CLASS0_LOW_TO_HIGH)  # a permutation of the class
    assert sorted(_sweep(first, 1, 3)) == sorted(CLASS1_LOW_TO_HIGH)
    # Same seed: same order, even with other scores (random ignores mem-scores).
    other_scores = windows(config, seed=7, scores=SCORES[::-1].copy())
    assert _sweep(other_scores, 0, 6) == order0
    # Other seeds give other orders (6! = 720 orders; 5 seeds cannot all agree by chance).
    assert any(_sweep(windows(config, seed=s), 0, 6) != order0 for s in range(8, 13))


def test_random_order_is_reused_every_epoch():
    """Sliding by one: consecutive windows overlap in width-1 members of the same order."""
    labels = np.zeros(40, dtype=np.int64)
    members = np.arange(40)
    w = ClassWindows(members, labels, np.zeros(40), WindowConfig(5, 1, "random"), seed=3)
    fixed = ClassWindows(members, labels, np.zeros(40), WindowConfig(1, 1, "random"), seed=3)
    permutation = [int(fixed.window(e)[0]) for e in range(40)]
    assert sorted(permutation) == list(range(40))
    assert permutation != list(range(40))
    for epoch in range(36):
        assert window_set(w, epoch) == set(permutation[epoch : epoch + 5])


# ----------------------------------------------------------------------------- risky members

RAW = np.array([-0.2, 0.1, 0.5, 0.5, 0.9])
NORMALIZED = np.array([0.9, 0.1, 0.2, 0.3, 0.8])  # deliberately not the order of RAW


@pytest.mark.parametrize(
    ("scale", "threshold", "expected"),
    [
        ("normalized", 0.5, [True, False, False, False, True]),
        ("normalized", 0.8, [True, False, False, False, True]),  # at the threshold is risky
        ("normalized", 0.85, [True, False, False, False, False]),
        ("normalized", 0.0, [True] * 5),
        ("raw", 0.5, [False, False, True, True, True]),
        ("raw", 0.0, [False, True, True, True, True]),
        ("raw", -1.0, [True] * 5),
        ("raw", 1.0, [False] * 5),
        ("top_fraction", 0.2, [False, False, False, False, True]),
        # Top 40% = 2 members: 0.9, then the tie at 0.5 broken by position (index 2).
        ("top_fraction", 0.4, [False, False, True, False, True]),
        ("top_fraction", 0.0, [False] * 5),
        ("top_fraction", 1.0, [True] * 5),
    ],
)
def test_risky_mask_on_each_scale(scale, threshold, expected):
    config = RiskyConfig(threshold=threshold, scale=scale)
    assert risky_mask(RAW, NORMALIZED, config).tolist() == expected


def _rmr(**settings) -> RMR:
    config = RiskyConfig(**{"threshold": 0.5, "scale": "raw", **settings})
    normalized = pd.Series(SCORES).rank().to_numpy() / len(SCORES)
    return RMR(MEMBERS, LABELS, SCORES, normalized, config, base_weight_decay=5e-4)


RISKY_AT_HALF = {10, 14, 12, 20, 22}  # raw score >= 0.5


def test_rmr_groups_risky_first_then_general():
    rmr = _rmr()
    for epoch in (0, 1, 5):
        groups = rmr.plan_epoch(epoch)
        assert [g.name for g in groups] == ["risky", "general"]
        risky, general = (set(g.indices.tolist()) for g in groups)
        assert risky == RISKY_AT_HALF
        assert risky.isdisjoint(general)
        assert risky | general == set(MEMBERS.tolist())
        assert len(groups[0].indices) + len(groups[1].indices) == len(MEMBERS)
    assert set(rmr.risky.tolist()) == RISKY_AT_HALF
    # Any samples (a window, say) split the same way, risky first.
    risky, general = rmr.groups(np.array([11, 12, 20]))
    assert (risky.name, set(risky.indices.tolist())) == ("risky", {12, 20})
    assert (general.name, general.indices.tolist()) == ("general", [11])


def test_rmr_threshold_scales_pick_different_members():
    assert set(_rmr(threshold=0.9, scale="raw").risky.tolist()) == {12}
    # Top third of 9 members = 3: scores .9 (12), .8 (22), .7 (14).
    assert set(_rmr(threshold=1 / 3, scale="top_fraction").risky.tolist()) == {12, 22, 14}
    # Rank-normalized: the k-th lowest of 9 has k/9; >= 7/9 is the top three again.
    assert set(_rmr(threshold=7 / 9 - 1e-9, scale="normalized").risky.tolist()) == {12, 22, 14}


def test_risky_per_class_counts_every_class():
    assert _rmr().risky_per_class == {0: 3, 1: 2}
    assert _rmr(threshold=0.85).risky_per_class == {0: 1, 1: 0}


def test_rmr_separate_optimizers_give_risky_batches_their_own_decay():
    rmr = _rmr(weight_decay_mem=0.1)
    assert rmr.optimizers() == {"all": GroupOptimizer(), "risky": GroupOptimizer(0.1, False)}
    risky, general = rmr.plan_epoch(0)
    assert (risky.optimizer, risky.l2_penalty) == ("risky", 0.0)
    assert (general.optimizer, general.l2_penalty) == ("all", 0.0)
    decoupled = _rmr(weight_decay_mem=0.05, decoupled=True)
    assert decoupled.optimizers()["risky"] == GroupOptimizer(0.05, True)


def test_rmr_shared_optimizer_adds_the_extra_decay_as_a_penalty():
    rmr = _rmr(weight_decay_mem=0.1, optimizer="shared")
    assert rmr.optimizers() == {"all": GroupOptimizer()}
    risky, general = rmr.plan_epoch(0)
    assert risky.optimizer == general.optimizer == "all"
    assert risky.l2_penalty == pytest.approx((0.1 - 5e-4) / 2)
    assert general.l2_penalty == 0.0


def test_swmr_groups_are_the_window_split_into_risky_and_general():
    window = WindowConfig(width=3, stride=1)
    risky_config = RiskyConfig(threshold=0.5, scale="raw")
    normalized = pd.Series(SCORES).rank().to_numpy() / len(SCORES)
    regularization = RMR(MEMBERS, LABELS, SCORES, normalized, risky_config, 5e-4)
    swmr = SWMR(windows(window), regularization)
    rsw = RSW(windows(window))
    assert swmr.optimizers() == _rmr().optimizers()
    assert swmr.regularization.risky_per_class == {0: 3, 1: 2}
    assert swmr.summary() == {
        "risky_per_class": {"0": 3, "1": 2},
        "risky_total": 5,
        "risky_in_window_per_round": [],  # no epoch planned yet
    }
    # Hand-written for epoch 1: class 0 ranks 1-3 = {15, 13, 10}, class 1 ranks 1-2 = {20, 22}.
    assert groups_of(swmr, 1) == {"risky": {10, 20, 22}, "general": {15, 13}}
    for epoch in range(7):
        in_window = window_set(rsw, epoch)
        groups = swmr.plan_epoch(epoch)
        assert [g.name for g in groups] == ["risky", "general"]
        assert set(groups[0].indices.tolist()) == in_window & RISKY_AT_HALF
        assert set(groups[1].indices.tolist()) == in_window - RISKY_AT_HALF
    assert groups_of(swmr, 0) == {"risky": {20, 22}, "general": {11, 15, 13, 21}}


def test_base_defense_trains_every_member_in_one_group():
    base = NoDefense(MEMBERS)
    assert base.optimizers() == {"all": GroupOptimizer()}
    for epoch in (0, 3):
        (group,) = base.plan_epoch(epoch)
        assert group.indices.tolist() == MEMBERS.tolist()


def test_build_defense_uses_the_table_scores_of_each_member(score_table):
    # The table lists other samples too, in another order; it must be looked up by index.
    rows = np.concatenate([MEMBERS[::-1], [0, 1, 2]])
    raw = np.concatenate([SCORES[::-1], [0.0, 0.0, 0.0]])
    table = score_table(rows, raw)
    rsw = build_defense("rsw", {"width": 2, "stride": 1}, context(table))
    assert window_set(rsw, 0) == {11, 15, 21, 20}
    rmr = build_defense("rmr", {"threshold": 0.5, "scale": "raw"}, context(table, 0))
    assert set(rmr.risky.tolist()) == RISKY_AT_HALF
    swmr = build_defense(
        "swmr",
        {"window": {"width": 2, "stride": 1}, "risky": {"threshold": 0.5, "scale": "raw"}},
        context(table),
    )
    assert groups_of(swmr, 1) == {"risky": {20, 22}, "general": {15, 13}}
    assert build_defense("base", None, context(None)).name == "base"
    assert set(DEFENSE_NAMES) >= {"base", "rsw", "rmr", "swmr"}


def test_the_registry_names_every_defense_once_with_its_title():
    assert tuple(DEFENSES) == DEFENSE_NAMES
    assert set(DEFENSE_NAMES) == {"base", *WEMEM_NAMES, *BASELINE_NAMES}
    assert not set(WEMEM_NAMES) & set(BASELINE_NAMES)
    for name, cls in DEFENSES.items():
        assert cls.name == name
        assert cls.title and cls.title != Defense.title, name
        assert issubclass(cls, Defense)


# ----------------------------------------------------------------------------- parts that never act


def _swmr(window: WindowConfig, **risky) -> SWMR:
    return SWMR(windows(window), _rmr(**risky))


def test_members_in_windows_is_the_union_of_the_epochs_windows():
    config = WindowConfig(width=2, stride=1)
    assert set(windows(config).members_in_windows(2).tolist()) == {11, 15, 13, 21, 20, 22}
    assert windows(config).members_in_windows(0).tolist() == []


def test_swmr_counts_the_risky_members_each_rounds_windows_held():
    swmr = _swmr(WindowConfig(width=2, stride=1))  # risky: 10, 12, 14, 20, 22
    for epoch in (0, 1):  # round 0: class 0 ranks 0-2 (no risky), class 1 ranks 0-2
        swmr.plan_epoch(epoch)
    for epoch in (0, 1, 2, 3):  # round 1 (epochs count from 0 again) reaches class 0 rank 4
        swmr.plan_epoch(epoch)
    assert swmr.summary()["risky_in_window_per_round"] == [2, 4]  # {20, 22}; {10, 14, 20, 22}


def test_swmr_whose_risky_members_never_enter_a_window_names_it():
    # Only 12 (class 0, the highest score) is risky at 0.85; windows of width 2, stride 1 reach
    # class 0 rank 2 in 2 epochs and rank 5 (member 12) in 5.
    swmr = _swmr(
        WindowConfig(width=2, stride=1, section="scenario3.settings.window"), threshold=0.85
    )
    (idle,) = swmr.idle_parts(epochs=2)
    assert "none of the 1 risky members enters a window in a round of 2 epochs" in idle
    assert "scenario3.settings.window" in idle and "SWMR trains as RSW" in idle
    assert swmr.idle_parts(epochs=5) == []
    high_first = _swmr(WindowConfig(width=2, stride=1, order="high_to_low"), threshold=0.85)
    assert high_first.idle_parts(epochs=1) == []


def test_an_empty_risky_group_is_named_for_rmr_and_swmr():
    (rmr_idle,) = _rmr(threshold=0.95).idle_parts(epochs=3)
    assert "none of the 9 members risky" in rmr_idle and "trains as Base" in rmr_idle
    (swmr_idle,) = _swmr(WindowConfig(), threshold=0.95).idle_parts(epochs=3)
    assert "trains as RSW" in swmr_idle
    assert _rmr().idle_parts(epochs=3) == []
    assert RSW(windows(WindowConfig())).idle_parts(epochs=3) == []


@pytest.mark.parametrize(
    ("width", "stride", "epochs", "covers", "share"),
    [
        (1.0, 1, 1, True, 1.0),  # one epoch: every member, as Base
        (1.0, 1, 2, True, (6 + 3 + 5 + 2) / (2 * 9)),  # epoch 1 drops one rank per class
        (6, 3, 2, True, (6 + 3 + 3 + 0) / (2 * 9)),
        (0.5, 1, 1, False, (3 + 2) / 9),  # half of each class (3 of 6, round(1.5) = 2 of 3)
        (5, 1, 1, False, (5 + 3) / 9),  # class 0 has 6 members
    ],
)
def test_window_coverage(width, stride, epochs, covers, share):
    coverage = window_coverage(WindowConfig(width=width, stride=stride), [6, 3], epochs)
    assert coverage.covers_every_class is covers
    assert coverage.trained_share == pytest.approx(share)


# ----------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("defense", "settings", "parameter"),
    [
        ("rsw", {"width": 0}, "scenario1.settings.width"),
        ("rsw", {"width": -3}, "scenario1.settings.width"),
        ("rsw", {"width": 0.0}, "scenario1.settings.width"),
        ("rsw", {"width": 1.5}, "scenario1.settings.width"),
        ("rsw", {"width": "wide"}, "scenario1.settings.width"),
        ("rsw", {"stride": -1}, "scenario1.settings.stride"),
        ("rsw", {"stride": -0.1}, "scenario1.settings.stride"),
        ("rsw", {"stride": 1.2}, "scenario1.settings.stride"),
        ("rsw", {"order": "sideways"}, "scenario1.settings.order"),
        ("rsw", {"widht": 3}, "widht"),
        ("rmr", {"threshold": 1.5}, "scenario1.settings.threshold"),
        ("rmr", {"threshold": -0.1}, "scenario1.settings.threshold"),
        ("rmr", {"threshold": -1.5, "scale": "raw"}, "scenario1.settings.threshold"),
        ("rmr", {"threshold": 1.1, "scale": "top_fraction"}, "scenario1.settings.threshold"),
        ("rmr", {"scale": "percent"}, "scenario1.settings.scale"),
        ("rmr", {"weight_decay_mem": -0.1}, "scenario1.settings.weight_decay_mem"),
        ("rmr", {"optimizer": "third"}, "scenario1.settings.optimizer"),
        ("rmr", {"optimizer": "shared", "decoupled": True}, "scenario1.settings.decoupled"),
        ("rmr", {"weight_decay": 0.1}, "weight_decay"),
        ("swmr", {"window": {"width": 0}}, "scenario1.settings.window.width"),
        ("swmr", {"risky": {"threshold": 2.0}}, "scenario1.settings.risky.threshold"),
        ("swmr", {"width": 3}, "width"),
        ("base", {"width": 3}, "scenario1.settings"),
        ("nope", None, "scenario1.defense"),
    ],
)
def test_bad_defense_settings_name_the_parameter(defense, settings, parameter):
    with pytest.raises(ParameterError) as error:
        check_defense_settings(defense, settings, "scenario1.settings")
    assert parameter in str(error.value)


def test_a_raw_threshold_may_be_negative():
    check_defense_settings("rmr", {"threshold": -0.5, "scale": "raw"}, "s")
    with pytest.raises(ParameterError, match="threshold"):
        check_defense_settings("rmr", {"threshold": -0.5, "scale": "normalized"}, "s")


def test_unknown_defense_lists_the_known_ones():
    with pytest.raises(ParameterError) as error:
        build_defense("dp", None, context(None), section="scenario2.settings")
    assert "scenario2.defense" in str(error.value)
    assert "rsw" in str(error.value)


def test_member_scores_missing_a_member_asks_to_rerun_memorability(score_table):
    table = score_table(MEMBERS[:-2], SCORES[:-2])  # 21 and 22 have no score
    with pytest.raises(ParameterError, match="memorability") as error:
        context(table).member_scores()
    assert "2 training samples" in str(error.value)
    with pytest.raises(ParameterError, match="memorability"):
        build_defense("rsw", {}, context(table))
    reversed_members = DefenseContext(
        MEMBERS[::-1], LABELS, NUM_CLASSES, score_table(MEMBERS, SCORES)
    )
    raw, normalized = reversed_members.member_scores()
    assert raw.tolist() == SCORES[::-1].tolist()
    assert normalized.shape == raw.shape


def test_a_defense_that_needs_mem_scores_asks_for_the_memorability_pipeline():
    for name in WEMEM_NAMES:
        with pytest.raises(ParameterError, match="memorability pipeline"):
            build_defense(name, None, context(None))
    for name in ("base", *BASELINE_NAMES):  # the others need none
        assert build_defense(name, None, context(None)).name == name


@pytest.mark.parametrize(
    ("scenario", "path", "value", "parameter"),
    [
        ("scenario1", ["width"], 0, "scenario1.settings.width"),
        ("scenario1", ["order"], "up", "scenario1.settings.order"),
        ("scenario2", ["threshold"], 1.5, "scenario2.settings.threshold"),
        ("scenario2", ["weight_decay_mem"], -1.0, "scenario2.settings.weight_decay_mem"),
        ("scenario3", ["window", "stride"], -2, "scenario3.settings.window.stride"),
        ("scenario3", ["risky", "scale"], "log", "scenario3.settings.risky.scale"),
    ],
)
def test_validate_parameters_checks_every_scenario(
    base_parameters, scenario, path, value, parameter
):
    params = base_parameters
    validate_parameters(params)  # the shipped settings are valid
    bad = copy.deepcopy(params)
    section = bad[scenario]["settings"]
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = value
    with pytest.raises(ParameterError) as error:
        validate_parameters(bad)
    assert parameter in str(error.value)


def test_validate_parameters_rejects_an_unknown_defense_name(base_parameters):
    params = base_parameters
    params["scenario2"]["defense"] = "magic"
    with pytest.raises(ParameterError, match="scenario2.defense"):
        validate_parameters(params)


# ----------------------------------------------------------------------------- training loop

N_FEATURES, N_CLASSES = 6, 2


def toy_training_data(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn((n, N_FEATURES), generator=generator)
    labels = torch.arange(n) % N_CLASSES
    return features, labels


def tiny_model(seed: int = 0) -> torch.nn.Module:
    return ModelSpec("mlp", hidden=(8,)).build((N_FEATURES,), N_CLASSES, seed)


def parameters_of(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def fit_tiny(
    features: torch.Tensor,
    labels: torch.Tensor,
    members: np.ndarray,
    config: TrainConfig,
    *,
    dev: np.ndarray | None = None,
    defense: Defense | None = None,
    model: torch.nn.Module | None = None,
    seed: int = 0,
) -> TrainResult:
    """``fit`` of ``model`` (default: a fresh tiny MLP) without a progress bar."""
    model = tiny_model() if model is None else model
    return fit(
        model, features, labels, members, dev, config, seed=seed, progress=False, defense=defense
    )


class PlannedDefense(Defense):
    """A defense that replays a fixed plan: ``groups`` every epoch."""

    name = "planned"

    def __init__(self, groups: list[SampleGroup], optimizers: dict[str, GroupOptimizer]):
        self.groups, self._optimizers = groups, optimizers

    def optimizers(self) -> dict[str, GroupOptimizer]:
        return self._optimizers

    def plan_epoch(self, epoch: int) -> list[SampleGroup]:
        return self.groups


def expected_uses(defense: Any, members: np.ndarray, epochs: int) -> np.ndarray:
    """Times each member appears in the defense's plans of ``epochs`` epochs."""
    counts = np.zeros(len(members), dtype=np.int64)
    for epoch in range(epochs):
        for group in defense.plan_epoch(epoch):
            counts += np.isin(members, group.indices)
    return counts


def test_fit_counts_sample_uses_of_an_rsw_plan():
    features, labels = toy_training_data()
    members = np.arange(0, 40, 2)[:10].tolist() + np.arange(1, 40, 2)[:10].tolist()
    members = np.array(members)  # 10 of each class
    scores = np.linspace(0, 1, len(members))
    rsw = RSW(ClassWindows(members, labels.numpy(), scores, WindowConfig(width=3, stride=2)))
    result = fit_tiny(
        features, labels, members, TrainConfig(max_epochs=4, batch_size=4), defense=rsw
    )
    assert result.epochs_run == 4
    # Hand count: each class's ranks 0-2, 2-4, 4-6, 6-8 -> ranks 2, 4, 6 twice, 9 never.
    per_rank = np.array([1, 1, 2, 1, 2, 1, 2, 1, 1, 0])
    by_class = {c: members[labels.numpy()[members] == c] for c in (0, 1)}
    expected = np.zeros(len(members), dtype=np.int64)
    for in_class in by_class.values():
        for rank, sample in enumerate(in_class):  # scores rise with position in members
            expected[members.tolist().index(sample)] = per_rank[rank]
    assert result.sample_uses.tolist() == expected.tolist()
    assert result.sample_uses.tolist() == expected_uses(rsw, members, 4).tolist()
    assert [h["samples"] for h in result.history] == [6, 6, 6, 6]


def test_fit_without_defense_uses_every_member_every_epoch():
    features, labels = toy_training_data()
    members = np.arange(0, 30)
    result = fit_tiny(features, labels, members, TrainConfig(max_epochs=3))
    assert result.sample_uses.tolist() == [3] * 30
    # With early stopping on dev the count is the number of epochs actually run.
    stopping = TrainConfig(max_epochs=20, patience=1, lr=1e-6)
    result = fit_tiny(features, labels, members, stopping, dev=np.arange(30, 40))
    assert result.epochs_run < 20
    assert result.sample_uses.tolist() == [result.epochs_run] * 30


def test_fit_counts_uses_of_rmr_groups_once_per_epoch():
    features, labels = toy_training_data()
    members = np.arange(20)
    rmr = RMR(
        members,
        labels.numpy(),
        np.linspace(0, 1, 20),
        np.linspace(0, 1, 20),
        RiskyConfig(threshold=0.5),
        5e-4,
    )
    result = fit_tiny(features, labels, members, TrainConfig(max_epochs=2), defense=rmr)
    assert result.sample_uses.tolist() == [2] * 20


def test_make_optimizer_follows_the_group_settings():
    params = list(tiny_model().parameters())
    config = TrainConfig(weight_decay=5e-4)
    plain = make_optimizer(params, config)
    assert type(plain) is torch.optim.Adam
    assert plain.param_groups[0]["weight_decay"] == 5e-4
    risky = make_optimizer(params, config, GroupOptimizer(weight_decay=0.1))
    assert type(risky) is torch.optim.Adam
    assert risky.param_groups[0]["weight_decay"] == 0.1
    decoupled = make_optimizer(params, config, GroupOptimizer(weight_decay=0.05, decoupled=True))
    assert type(decoupled) is torch.optim.AdamW
    assert decoupled.param_groups[0]["weight_decay"] == 0.05
    assert decoupled.param_groups[0]["lr"] == config.lr
    sgd = TrainConfig(optimizer="sgd", weight_decay=1e-3, momentum=0.0)
    assert make_optimizer(params, sgd, GroupOptimizer(0.2)).param_groups[0]["weight_decay"] == 0.2
    with pytest.raises(ParameterError, match="decoupled"):
        make_optimizer(params, sgd, GroupOptimizer(0.2, decoupled=True))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_l2_penalty_equals_coupled_weight_decay_of_twice_the_penalty(optimizer):
    features, labels = toy_training_data()
    members = np.arange(40)
    penalty, decay = 0.05, 0.01
    # Two batches = two optimizer steps (Adam's first step alone is lr * sign(gradient)).
    common = {"optimizer": optimizer, "lr": 0.01, "momentum": 0.0, "max_epochs": 1}

    def trained(weight_decay: float, defense=None) -> torch.nn.Module:
        model = tiny_model()
        config = TrainConfig(weight_decay=weight_decay, batch_size=20, **common)
        fit_tiny(features, labels, members, config, defense=defense, model=model)
        return model

    start = parameters_of(tiny_model())
    plan = PlannedDefense(
        [SampleGroup("g", members, l2_penalty=penalty)], {"all": GroupOptimizer()}
    )
    with_penalty = trained(decay, plan)
    with_decay = trained(decay + 2 * penalty)
    plain = trained(decay)
    for a, b, s in zip(with_penalty.parameters(), with_decay.parameters(), start, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert not torch.equal(a, s)
    assert any(
        not torch.allclose(a, c)
        for a, c in zip(with_penalty.parameters(), plain.parameters(), strict=True)
    )


def test_rmr_shared_mode_equals_separate_mode_under_plain_sgd():
    """Without momentum SGD has no state, so one optimizer + penalty equals two optimizers."""
    features, labels = toy_training_data()
    members = np.arange(30)
    scores = np.linspace(0, 1, 30)
    config = TrainConfig(
        optimizer="sgd", lr=0.05, momentum=0.0, weight_decay=1e-3, batch_size=8, max_epochs=3
    )
    trained = {}
    for mode in ("separate", "shared", "base"):
        model = tiny_model()
        defense = None
        if mode != "base":
            risky = RiskyConfig(threshold=0.6, weight_decay_mem=0.5, optimizer=mode)
            defense = RMR(members, labels.numpy(), scores, scores, risky, config.weight_decay)
        fit_tiny(features, labels, members, config, defense=defense, model=model, seed=3)
        trained[mode] = parameters_of(model)
    for a, b in zip(trained["separate"], trained["shared"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # The strong decay of the risky group really changed the result.
    assert any(
        not torch.allclose(a, b, atol=1e-4)
        for a, b in zip(trained["separate"], trained["base"], strict=True)
    )


@pytest.mark.parametrize("case", ["empty_window", "no_risky_in_window"])
def test_an_empty_group_leaves_the_weights_alone(case):
    features, labels = toy_training_data()
    members = np.arange(20)
    scores = np.linspace(0, 1, 20)
    config = TrainConfig(max_epochs=2, batch_size=4)
    if case == "empty_window":
        # Epoch 0 trains on every member, epoch 1's window is past the end of every class.
        window = WindowConfig(width=10, stride=10)
        defended = RSW(ClassWindows(members, labels.numpy(), scores, window))
        reference = RSW(ClassWindows(members, labels.numpy(), scores, window))
        reference_config = TrainConfig(max_epochs=1, batch_size=4)
    else:
        # The top quarter is risky; the windows (lowest 5 per class) never reach it.
        window = WindowConfig(width=5, stride=1)
        risky = RiskyConfig(threshold=0.75, weight_decay_mem=0.1)
        regularization = RMR(members, labels.numpy(), scores, scores, risky, 5e-4)
        defended = SWMR(ClassWindows(members, labels.numpy(), scores, window), regularization)
        assert all(len(defended.plan_epoch(e)[0].indices) == 0 for e in range(2))
        reference = RSW(ClassWindows(members, labels.numpy(), scores, window))
        reference_config = config
    model, expected = tiny_model(), tiny_model()
    fit_tiny(features, labels, members, config, defense=defended, model=model)
    fit_tiny(features, labels, members, reference_config, defense=reference, model=expected)
    for a, b in zip(model.parameters(), expected.parameters(), strict=True):
        torch.testing.assert_close(a, b)


# ----------------------------------------------------------------------------- iterative pruning


def iterative_records(
    model: torch.nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    split: dict[str, np.ndarray],
    pruning: PruningConfig,
    training: TrainConfig,
    defense: Defense | None,
) -> list[RoundRecord]:
    """The round records of iterative pruning with ``defense`` in every round."""
    schedule = schedule_of("iterative", pruning, training)
    rounds = train_schedule(
        model, features, labels, split, schedule, training, scope="global", seed=0, defense=defense
    )
    return [record for record, _ in rounds]


def test_iterative_prune_with_rsw_records_the_windows_reuse():
    features, labels = toy_training_data(n=80)
    order = np.random.default_rng(0).permutation(80)
    split = {"member": order[:50], "dev": order[50:65], "test": order[65:]}
    scores = np.random.default_rng(1).random(50)
    rsw = RSW(ClassWindows(split["member"], labels.numpy(), scores, WindowConfig(0.2, 0.1)))
    pruning = PruningConfig(sparsity=0.5, rounds=3, epochs_per_round=4)
    training = TrainConfig(batch_size=8, patience=2)
    records = iterative_records(tiny_model(), features, labels, split, pruning, training, rsw)
    assert len(records) == 3
    members = split["member"]
    for record in records:
        uses = expected_uses(rsw, members, record.epochs_run)  # epochs restart at 0 each round
        window_sizes = sum(len(rsw.windows.window(e)) for e in range(record.epochs_run))
        assert record.members_seen == int((uses > 0).sum())
        assert record.members_seen <= window_sizes
        assert record.members_seen < len(members)
        assert record.mean_uses == pytest.approx(window_sizes / len(members))
        assert record.max_uses == uses.max()
        assert record.mean_uses < record.epochs_run / 2  # far below Base's epochs_run


def test_iterative_prune_without_defense_uses_every_member_every_epoch():
    features, labels = toy_training_data(n=60)
    split = {"member": np.arange(40), "dev": np.arange(40, 50), "test": np.arange(50, 60)}
    pruning = PruningConfig(sparsity=0.5, rounds=2, epochs_per_round=3)
    training = TrainConfig(batch_size=16)
    records = iterative_records(tiny_model(), features, labels, split, pruning, training, None)
    for record in records:
        assert record.members_seen == 40
        assert record.mean_uses == record.max_uses == record.epochs_run
