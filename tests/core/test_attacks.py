"""Tests for the threshold attacks, and an end-to-end planted-leak test with real training.

The unit tests use synthetic :class:`MembershipSet` objects whose right answer is known. The
end-to-end tests train tiny MLPs (victim and two shadows) on random labels, which only
memorization can fit, and check that the attacks find the members; the controls check that
nothing is found when the outputs carry no membership information.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from wemem_pipeline.core import evaluation
from wemem_pipeline.core.attacks import (
    ATTACKS,
    OFFLINE_ATTACKS,
    MembershipSet,
    References,
    check_attack_names,
    check_attack_params,
    run_attacks,
)
from wemem_pipeline.core.attacks.threshold import (
    ThresholdAttack,
    best_threshold,
    negative_entropy,
    negative_modified_entropy,
    top_confidence,
    true_class_confidence,
)
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.metrics import membership_metrics
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.splits import VICTIM, SplitConfig, roles_of, split_samples
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import ParameterError
from wemem_pipeline.core.victim_and_shadows import train_victim_and_shadows

THRESHOLD_NAMES = ("conf", "entr", "mentr", "hconf")
NUM_CLASSES = 5


def synthetic_set(seed: int, per_side: int = 200, *, constant: bool = False) -> MembershipSet:
    """Members' logits are confident on the true class, non-members' are flat.

    Labels cycle through the classes in both halves, so members and non-members have exactly
    the same label distribution. Three OUT reference models and a population of non-members
    look like non-members; sensitivity is flat noise (only the posterior leaks).
    """
    rng = np.random.default_rng(seed)
    n = 2 * per_side
    labels = np.arange(n) % NUM_CLASSES
    is_member = np.repeat([True, False], per_side)
    logits = rng.normal(0.0, 0.3, (n, NUM_CLASSES))
    logits[np.flatnonzero(is_member), labels[is_member]] += 5.0
    reference_logits = rng.normal(0.0, 0.3, (3, n, NUM_CLASSES))
    population_labels = np.arange(100) % NUM_CLASSES
    population_target_logits = rng.normal(0.0, 0.3, (100, NUM_CLASSES))
    population_logits = rng.normal(0.0, 0.3, (3, 100, NUM_CLASSES))
    if constant:
        logits = np.zeros((n, NUM_CLASSES))
        reference_logits = np.zeros_like(reference_logits)
        population_target_logits = np.zeros_like(population_target_logits)
        population_logits = np.zeros_like(population_logits)
    references = References(
        logits=reference_logits,
        is_out=np.ones((3, n), dtype=bool),
        population_labels=population_labels,
        population_target_logits=population_target_logits,
        population_logits=population_logits,
        population_is_out=np.ones((3, 100), dtype=bool),
    )
    sensitivity = np.abs(rng.normal(0.0, 1.0, (n, NUM_CLASSES)))
    return MembershipSet(np.arange(n), logits, labels, is_member, sensitivity, references)


def shadow_sets() -> list[MembershipSet]:
    return [synthetic_set(seed) for seed in (1, 2, 3)]


# ----------------------------------------------------------------------------- signals


def test_signals_by_hand():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6]]))
    labels = np.array([0, 1])
    np.testing.assert_allclose(true_class_confidence(logits, labels), [0.5, 0.2])
    np.testing.assert_allclose(top_confidence(logits, labels), [0.5, 0.6])
    entropy = [
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)),
        -(2 * 0.2 * math.log(0.2) + 0.6 * math.log(0.6)),
    ]
    np.testing.assert_allclose(negative_entropy(logits, labels), -np.asarray(entropy))
    # Mentr = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)
    mentr = [
        -(1 - 0.5) * math.log(0.5) - 2 * 0.25 * math.log(0.75),
        -(1 - 0.2) * math.log(0.2) - 0.2 * math.log(0.8) - 0.6 * math.log(0.4),
    ]
    np.testing.assert_allclose(negative_modified_entropy(logits, labels), -np.asarray(mentr))


def test_signals_are_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    labels = np.array([2])
    for signal in (true_class_confidence, negative_entropy, negative_modified_entropy):
        assert np.isfinite(signal(logits, labels)).all()


# ----------------------------------------------------------------------------- best_threshold


def test_best_threshold_separates_separable_values():
    values = np.array([1.0, 2.0, 3.0, 5.0, 6.0, 7.0])
    is_member = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    threshold = best_threshold(values, is_member)
    assert 3.0 < threshold <= 5.0
    np.testing.assert_array_equal(values >= threshold, is_member)


def test_best_threshold_handles_interleaved_values():
    # Members at 4, 6, 7. Rule ">= 4": TPR 3/3, TNR 3/5, balanced accuracy 0.8, the unique best
    # (">= 3": 0.7, ">= 6": 0.733, ">= 7": 0.567).
    values = np.arange(1.0, 9.0)
    is_member = np.isin(values, [4.0, 6.0, 7.0])
    threshold = best_threshold(values, is_member)
    assert threshold == 4.0
    predicted = values >= threshold
    tpr = predicted[is_member].mean()
    tnr = (~predicted[~is_member]).mean()
    assert 0.5 * (tpr + tnr) == pytest.approx(0.8)


def test_best_threshold_moves_ties_together():
    # Values 2 are tied between two members and one non-member: the threshold cannot split them.
    values = np.array([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])
    is_member = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    threshold = best_threshold(values, is_member)
    assert 1.0 < threshold <= 2.0


def test_best_threshold_without_signal_predicts_nobody():
    values = np.full(10, 0.3)
    is_member = np.arange(10) < 5
    assert best_threshold(values, is_member) > values.max()


# ----------------------------------------------------------------------------- attacks


def test_threshold_attacks_are_registered():
    assert set(THRESHOLD_NAMES) <= set(ATTACKS)


@pytest.mark.parametrize("name", THRESHOLD_NAMES)
def test_attack_finds_confident_members(name):
    target = synthetic_set(10)
    result = ATTACKS[name]().fit(shadow_sets()).score(target)
    assert result.scores.shape == result.predicted_member.shape == (len(target.labels),)
    metrics = membership_metrics(target.is_member, result.scores, result.predicted_member)
    assert metrics["auc"] > 0.9
    assert metrics["balanced_accuracy"] > 0.8
    np.testing.assert_array_equal(result.predicted_member, result.scores >= 0)


@pytest.mark.parametrize("name", OFFLINE_ATTACKS)
def test_attack_on_constant_logits_is_chance(name):
    target = synthetic_set(10, constant=True)
    result = ATTACKS[name]().fit(shadow_sets()).score(target)
    metrics = membership_metrics(target.is_member, result.scores, result.predicted_member)
    assert metrics["auc"] == pytest.approx(0.5, abs=0.05)
    assert metrics["balanced_accuracy"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("name", OFFLINE_ATTACKS)
def test_attack_never_reads_target_membership(name):
    target = synthetic_set(10)
    flipped = dataclasses.replace(target, is_member=~target.is_member)
    attack = ATTACKS[name]().fit(shadow_sets())
    np.testing.assert_array_equal(attack.score(target).scores, attack.score(flipped).scores)


def test_per_class_thresholds_and_global_fallback():
    # Class 0 members have confidence ~0.9 vs 0.6; class 1 members ~0.5 vs 0.2.
    def make(conf_member_0, conf_non_0, conf_member_1, conf_non_1) -> MembershipSet:
        conf = np.array([conf_member_0, conf_non_0, conf_member_1, conf_non_1])
        labels = np.array([0, 0, 1, 1])
        logits = np.log(np.stack([conf, 1 - conf], axis=1))
        logits[labels == 1] = logits[labels == 1][:, ::-1]
        return MembershipSet(np.arange(4), logits, labels, np.array([1, 0, 1, 0], dtype=bool))

    shadows = [make(0.9, 0.6, 0.5, 0.2)]
    attack = ThresholdAttack("conf", true_class_confidence).fit(shadows)
    assert attack.class_thresholds[0] == pytest.approx(0.9)
    assert attack.class_thresholds[1] == pytest.approx(0.5)
    # One global threshold cannot separate both classes; per-class thresholds can.
    result = attack.score(make(0.9, 0.6, 0.5, 0.2))
    np.testing.assert_array_equal(result.predicted_member, [True, False, True, False])
    # A class the shadows never saw falls back to the global threshold.
    unseen = MembershipSet(
        np.arange(1), np.log([[0.01, 0.01, 0.98]]), np.array([2]), np.array([True])
    )
    score = attack.score(unseen).scores[0]
    assert score == pytest.approx(0.98 - attack.global_threshold)


def test_run_attacks_returns_every_requested_attack():
    results = run_attacks(["conf", "hconf"], shadow_sets(), synthetic_set(10))
    assert list(results) == ["conf", "hconf"]


@pytest.mark.parametrize("names", [["nope"], ["conf", "nope"], [], "conf"])
def test_check_attack_names_rejects_bad_names(names):
    with pytest.raises(ParameterError, match=r"attacks\.names"):
        check_attack_names(names)


def test_check_attack_names_accepts_known_names():
    assert check_attack_names(("conf", "mentr")) == ["conf", "mentr"]


# ----------------------------------------------------------------------------- end to end

# 600 train + 800 test samples, 512 random Gaussian features, random labels over 10 classes.
# Pools of 300 give 270 members per model, fewer than the feature count, so an MLP memorizes
# them within an epoch or two whatever epoch early stopping keeps; labels are random, so the
# models cannot generalize and non-members get low true-class confidence.
PLANTED = {"train": 600, "test": 800, "features": 512, "classes": 10, "seed": 0}


@pytest.fixture(scope="module")
def planted(one_thread):
    rng = np.random.default_rng(PLANTED["seed"])
    n = PLANTED["train"] + PLANTED["test"]
    features = rng.standard_normal((n, PLANTED["features"])).astype(np.float32)
    labels = rng.integers(0, PLANTED["classes"], n).astype(np.int64)
    is_test = np.arange(n) >= PLANTED["train"]
    classes = tuple(str(c) for c in range(PLANTED["classes"]))
    dataset = Dataset("planted", features, labels, is_test, classes)
    table = split_samples(is_test, SplitConfig(num_shadows=3), seed=PLANTED["seed"])
    run = RunConfig(
        seed=PLANTED["seed"],
        device="cpu",
        model=ModelSpec("mlp", hidden=(128,)),
        training=TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=32, max_epochs=20, patience=20),
    )
    dense = train_victim_and_shadows(dataset, table, run, "dense")
    assert list(dense.outputs) == [0]  # one round: training from scratch
    return dataset, table, dense.history, dense.outputs[0]


def evaluate(dataset, table, outputs):
    metrics, roc = evaluation.evaluate_stages(
        {"dense": outputs},
        table,
        dataset.labels,
        {"names": list(OFFLINE_ATTACKS)},
        seed=PLANTED["seed"],
    )
    return metrics.set_index("attack"), roc


def replaced(outputs: ModelOutputs, models: list[str]) -> ModelOutputs:
    """A copy of ``outputs`` whose ``models`` output the same logits for every sample.

    Such a model does not depend on its input, so its sensitivity is zero.
    """
    logits, sensitivity = dict(outputs.logits), dict(outputs.sensitivity)
    for model in models:
        logits[model] = np.tile(np.linspace(-1.0, 1.0, PLANTED["classes"]), (len(logits[model]), 1))
        sensitivity[model] = np.zeros_like(sensitivity[model])
    return ModelOutputs(outputs.sample_index, logits, sensitivity)


def test_planted_models_memorize_members(planted):
    dataset, table, history, outputs = planted
    assert set(history["model"]) == {VICTIM, "shadow_0", "shadow_1", "shadow_2"}
    split = roles_of(table, VICTIM)

    def victim_accuracy(indices: np.ndarray) -> float:
        rows = np.searchsorted(outputs.sample_index, indices)
        np.testing.assert_array_equal(outputs.sample_index[rows], indices)
        return (outputs.logits[VICTIM][rows].argmax(1) == dataset.labels[indices]).mean()

    member_accuracy = victim_accuracy(split["member"])
    test_accuracy = victim_accuracy(split["test"])
    assert member_accuracy > 0.8
    assert test_accuracy < 0.25  # random labels: chance is 0.1


def test_planted_leak_is_found(planted):
    dataset, table, _, outputs = planted
    metrics, roc = evaluate(dataset, table, outputs)
    assert set(metrics.index) == set(OFFLINE_ATTACKS)
    assert (metrics["stage"] == "dense").all()
    assert (metrics["members"] == metrics["non_members"]).all()
    assert set(roc["attack"]) == set(OFFLINE_ATTACKS)
    weak = metrics.loc[metrics["auc"] <= 0.8, "auc"]
    assert weak.empty, f"attacks that missed the planted leak: {weak.to_dict()}"


def test_earlier_rounds_skip_the_named_attacks_and_the_rest_score_alike(planted):
    dataset, table, _, outputs = planted
    params = {"names": ["conf", "nn", "lira"], "skip_on_earlier_rounds": ["nn"]}
    stages = {"round_0": outputs, "round_1": outputs}
    trend = evaluation.earlier_rounds({0: None, 1: None})
    assert trend == ["round_0"]
    metrics, roc = evaluation.evaluate_stages(
        stages, table, dataset.labels, params, seed=PLANTED["seed"], trend_stages=trend
    )
    attacked = metrics.groupby("stage")["attack"].apply(list).to_dict()
    assert attacked == {"round_0": ["conf", "lira"], "round_1": ["conf", "nn", "lira"]}
    assert set(roc.loc[roc["stage"] == "round_0", "attack"]) == {"conf", "lira"}
    by_stage = metrics.set_index(["stage", "attack"])["auc"]
    for attack in ("conf", "lira"):  # the same outputs: the same scores on either stage
        assert by_stage["round_0", attack] == by_stage["round_1", attack]


def test_stages_attacked_by_two_workers_give_the_rows_of_one_process(planted):
    dataset, table, _, outputs = planted
    params = {"names": ["conf", "nn", "lira", "samia"], "skip_on_earlier_rounds": ["nn"]}
    blind = replaced(outputs, ["victim"])
    stages = {"round_0": blind, "round_1": outputs, "defended": blind}
    alone, shared = (
        evaluation.evaluate_stages(
            stages,
            table,
            dataset.labels,
            params,
            PLANTED["seed"],
            trend_stages=["round_0"],
            workers=workers,
        )
        for workers in (1, 2)
    )
    assert list(shared[0]["stage"].unique()) == list(stages)
    pd.testing.assert_frame_equal(
        shared[0].drop(columns="seconds"), alone[0].drop(columns="seconds")
    )
    pd.testing.assert_frame_equal(shared[1], alone[1])


@pytest.mark.parametrize(
    "skipped", ["samia", ["nope"], {"nn": 1}], ids=["string", "unknown", "mapping"]
)
def test_a_bad_skip_list_is_refused_by_name(skipped):
    with pytest.raises(ParameterError, match="attacks.skip_on_earlier_rounds"):
        check_attack_params({"names": ["conf"], "skip_on_earlier_rounds": skipped})


def test_no_leak_when_no_model_depends_on_its_input(planted):
    # Every model (victim and shadows, as the attacks are adaptive) outputs the same logits
    # for every sample: calibration finds no rule and the victim is scored at chance.
    dataset, table, _, outputs = planted
    blind = replaced(outputs, list(outputs.logits))
    metrics, _ = evaluate(dataset, table, blind)
    for attack in OFFLINE_ATTACKS:
        assert metrics.loc[attack, "auc"] == pytest.approx(0.5, abs=0.05)
        assert metrics.loc[attack, "balanced_accuracy"] == pytest.approx(0.5, abs=0.05)


def test_no_leak_when_victim_outputs_are_constant(planted):
    # Shadows keep their leaky outputs, so thresholds are real; the victim's outputs carry
    # no membership signal. Hconf uses one global threshold, so its scores are all equal.
    dataset, table, _, outputs = planted
    metrics, _ = evaluate(dataset, table, replaced(outputs, [VICTIM]))
    assert metrics.loc["hconf", "auc"] == pytest.approx(0.5, abs=0.05)
    assert metrics.loc["hconf", "balanced_accuracy"] == pytest.approx(0.5, abs=0.05)
    # Per-class attacks can only see the label: their scores are constant within a class.
    shadows, _ = outputs.attack_sets(table, dataset.labels, PLANTED["seed"])
    _, victim = replaced(outputs, [VICTIM]).attack_sets(table, dataset.labels, PLANTED["seed"])
    for name, result in run_attacks(["conf", "entr", "mentr"], shadows, victim).items():
        for label in np.unique(victim.labels):
            assert np.ptp(result.scores[victim.labels == label]) < 1e-9, name


def test_attacks_are_calibrated_on_shadows_only(planted):
    dataset, table, _, outputs = planted
    shadows, victim = outputs.attack_sets(table, dataset.labels, PLANTED["seed"])
    assert len(shadows) == 3
    victim_samples = set(victim.sample_index.tolist())
    for shadow in shadows:
        assert not victim_samples & set(shadow.sample_index.tolist())
        assert shadow.is_member.sum() == (~shadow.is_member).sum()
    assert victim.is_member.sum() == (~victim.is_member).sum()
    np.testing.assert_array_equal(victim.labels, dataset.labels[victim.sample_index])


# --------------------------------------------------- loss, correctness, classifier attacks

EXTRA_NAMES = ("loss", "nn", "nn_top3", "nn_cls")


@pytest.mark.parametrize("name", EXTRA_NAMES)
def test_extra_attack_finds_confident_members(name):
    target = synthetic_set(10)
    result = ATTACKS[name]().fit(shadow_sets()).score(target)
    metrics = membership_metrics(target.is_member, result.scores, result.predicted_member)
    assert metrics["auc"] > 0.9
    assert metrics["balanced_accuracy"] > 0.8


def test_correctness_attack_matches_its_closed_form():
    # Members are always classified right; a flat posterior is right for about 1 class in 5.
    target = synthetic_set(10)
    result = ATTACKS["correctness"]().fit(shadow_sets()).score(target)
    right = target.logits.argmax(1) == target.labels
    non_member_right = right[~target.is_member].mean()
    metrics = membership_metrics(target.is_member, result.scores, result.predicted_member)
    assert right[target.is_member].all()
    assert metrics["auc"] == pytest.approx(1 - non_member_right / 2)
    assert metrics["balanced_accuracy"] == pytest.approx(1 - non_member_right / 2)
