"""Tests for the online reference attacks (LiRA, RMIA) and offline LiRA's two-sided test.

Every set is built by hand from two-class logits ``[phi, 0]`` with label 0, whose logit-scaled
confidence is exactly ``phi`` and whose true-class probability is ``sigmoid(phi)``. In the
synthetic audits each reference model trained on exactly half of the samples (IN), as when
every model of an audit is in turn the target and the others are its references.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

# The two-class set-up of the offline attacks' tests, shared (tests/core is on sys.path).
from test_attack_suite import logit, two_class

from wemem_pipeline.core import audit
from wemem_pipeline.core.attacks import (
    ATTACKS,
    AUDIT_ONLY_ATTACKS,
    OFFLINE_ATTACKS,
    ONLINE_ATTACKS,
    MembershipSet,
    References,
    build_attack,
    check_attack_names,
    check_attack_params,
)
from wemem_pipeline.core.attacks.label_noise import LabelNoise
from wemem_pipeline.core.attacks.lira import LiRA
from wemem_pipeline.core.attacks.lira_online import OnlineLiRA
from wemem_pipeline.core.attacks.rmia import RMIA
from wemem_pipeline.core.attacks.rmia_online import OnlineRMIA
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.metrics import tpr_at_fpr
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.splits import model_names, roles_of
from wemem_pipeline.core.training import TrainConfig, dataset_tensors, fit
from wemem_pipeline.core.validation import ParameterError

NEEDS_IN = "needs IN reference models: run it in the audit, where every model is the target in turn"


def labelled_set(
    target_phi: np.ndarray,
    reference_phi: np.ndarray,
    is_out: np.ndarray,
    is_member: np.ndarray | None = None,
    population: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> MembershipSet:
    """A two-class set with K references; ``population`` = (target phi, reference phi, is_out)."""
    n, k = len(target_phi), len(reference_phi)
    if population is None:
        population = (np.zeros(0), np.zeros((k, 0)), np.zeros((k, 0), dtype=bool))
    population_phi, population_reference_phi, population_is_out = population
    references = References(
        logits=two_class(reference_phi),
        is_out=np.asarray(is_out, dtype=bool),
        population_labels=np.zeros(len(population_phi), dtype=np.int64),
        population_target_logits=two_class(population_phi),
        population_logits=two_class(population_reference_phi),
        population_is_out=np.asarray(population_is_out, dtype=bool),
    )
    if is_member is None:
        is_member = np.arange(n) % 2 == 0
    return MembershipSet(
        np.arange(n),
        two_class(target_phi),
        np.zeros(n, dtype=np.int64),
        is_member,
        None,
        references,
    )


def log_normal(x: float, mean: float, variance: float) -> float:
    return -0.5 * math.log(2 * math.pi * variance) - (x - mean) ** 2 / (2 * variance)


# ----------------------------------------------------------------------------- online LiRA by hand

# Five references, two samples. Sample 0: IN 4, 6 (mean 5, variance 2; squares 2, 1 dof);
# OUT 0, 2, 1 (mean 1, variance 1; squares 2, 2 dof). Sample 1: IN 7, 9, 11 (mean 9, variance
# 4; squares 8, 2 dof); OUT -1, 1 (mean 0, variance 2; squares 2, 1 dof). Pooled: IN 10 / 3,
# OUT 4 / 3. Targets: phi 5 and 8.
HAND_REFERENCES = np.array([[4.0, 7.0], [6.0, 9.0], [0.0, 11.0], [2.0, -1.0], [1.0, 1.0]])
HAND_IS_OUT = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [1, 1]], dtype=bool)
HAND_TARGET = np.array([5.0, 8.0])


@pytest.mark.parametrize(
    ("below", "variances"),
    [
        # Every side has >= 2 references: each sample's own variances.
        (2, [(2.0, 1.0), (4.0, 2.0)]),
        # Fewer than 32 references everywhere: one pooled variance per side.
        (32, [(10 / 3, 4 / 3), (10 / 3, 4 / 3)]),
        # 3 references: sample 0's OUT and sample 1's IN are their own, the others pooled.
        (3, [(10 / 3, 1.0), (4.0, 4 / 3)]),
    ],
    ids=["own", "pooled", "mixed"],
)
def test_online_lira_is_the_log_likelihood_ratio(below, variances):
    target = labelled_set(HAND_TARGET, HAND_REFERENCES, HAND_IS_OUT)
    means = [(5.0, 1.0), (9.0, 0.0)]
    expected = [
        log_normal(phi, mean_in, var_in) - log_normal(phi, mean_out, var_out)
        for phi, (mean_in, mean_out), (var_in, var_out) in zip(
            HAND_TARGET, means, variances, strict=True
        )
    ]
    statistic = OnlineLiRA(global_variance_below=below).statistic(target)
    np.testing.assert_allclose(statistic, expected, rtol=1e-12)
    if below == 2:  # in closed form: 8 - ln(2) / 2 and 16 - 1/8 - ln(2) / 2
        np.testing.assert_allclose(statistic, [8 - math.log(2) / 2, 15.875 - math.log(2) / 2])


def test_online_lira_needs_an_in_and_an_out_reference_per_sample():
    # Sample 2 has only OUT references, sample 3 only IN ones: no statistic, no score.
    references = np.concatenate([HAND_REFERENCES, [[0.0, 1.0]] * 5], axis=1)
    is_out = np.concatenate([HAND_IS_OUT, [[True, False]] * 5], axis=1)
    target = labelled_set(np.array([5.0, 8.0, 3.0, 3.0]), references, is_out)
    attack = OnlineLiRA(global_variance_below=2)
    statistic = attack.statistic(target)
    assert np.isfinite(statistic[:2]).all() and np.isnan(statistic[2:]).all()
    attack.fit([target])  # calibrates on the two defined samples
    with pytest.raises(ValueError, match="2 target samples have no IN or no OUT reference"):
        attack.score(target)


# ----------------------------------------------------------------------------- synthetic audit

AUDIT_SAMPLES = 6000
AUDIT_REFERENCES = 64  # 32 IN and 32 OUT per sample: each sample's own variances


def synthetic_audit(
    seed: int,
    shift: Callable[[np.random.Generator, int], np.ndarray],
    n: int = AUDIT_SAMPLES,
    population: int = 0,
) -> MembershipSet:
    """``phi`` of sample i ~ N(mu_i + shift_i [IN], 1): difficulty mu_i, memorization shift_i.

    Each reference trained on exactly half the samples; the target on the even ones. The
    population (non-members of the target) is drawn the same way.
    """
    rng = np.random.default_rng(seed)
    k = AUDIT_REFERENCES

    def draw(m: int, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = rng.uniform(-4.0, 4.0, m)
        memorized = shift(rng, m)
        rank = np.argsort(rng.random((m, k)), axis=1).T  # (k, m): a random order per sample
        is_in = rank < k // 2
        reference_phi = mu + memorized * is_in + rng.standard_normal((k, m))
        phi = mu + memorized * is_member + rng.standard_normal(m)
        return phi, reference_phi, ~is_in

    is_member = np.arange(n) % 2 == 0
    phi, reference_phi, is_out = draw(n, is_member)
    pool = draw(population, np.zeros(population, dtype=bool))
    return labelled_set(phi, reference_phi, is_out, is_member, pool)


def memorized_quarter(rng: np.random.Generator, m: int) -> np.ndarray:
    """A quarter of the samples is memorized (IN shift 2.5 sigma), the rest not at all."""
    return np.where(rng.random(m) < 0.25, 2.5, 0.0)


def no_memorization(rng: np.random.Generator, m: int) -> np.ndarray:
    return np.zeros(m)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_online_lira_beats_offline_at_low_fpr_where_memorization_differs(seed):
    # Offline LiRA's false positives come from every sample's OUT tail alike; online LiRA
    # sees that three samples in four have the same IN and OUT Gaussians and gives them a
    # ratio near 0, so its 1% of false positives are spent on the memorized quarter. Over
    # seeds 0-29: online 0.155-0.204, offline 0.111-0.150, smallest gap 0.027.
    target = synthetic_audit(seed, memorized_quarter)
    offline = tpr_at_fpr(target.is_member, LiRA().statistic(target), 0.01)
    online = tpr_at_fpr(target.is_member, OnlineLiRA().statistic(target), 0.01)
    assert online > offline + 0.02, (online, offline)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lira_is_chance_without_memorization(seed):
    target = synthetic_audit(seed, no_memorization)
    for attack in (LiRA(), LiRA(test="two_sided"), OnlineLiRA()):
        auc = roc_auc_score(target.is_member, attack.statistic(target))
        assert auc == pytest.approx(0.5, abs=0.05), attack.name


# ----------------------------------------------------------------------------- online RMIA


def test_online_rmia_p_x_averages_in_and_out_references():
    # References give p 0.9 (IN), 0.3 (OUT), 0.5 (OUT), 0.7 (IN): p(x) = 0.6 online, while
    # offline RMIA with a = 1 would take the OUT mean 0.4. Population: p 0.1, 0.3, 0.5, 0.7
    # over references all at 0.5 (all OUT) gives r(z) = 0.2, 0.6, 1.0, 1.4.
    reference_p = np.array([0.9, 0.3, 0.5, 0.7])
    is_out = np.array([[False], [True], [True], [False]]).repeat(2, axis=1)
    target_p = np.array([0.66, 0.3])  # r(x) = 1.1 and 0.5 online
    population = (
        logit([0.1, 0.3, 0.5, 0.7]),
        np.full((4, 4), 0.0),  # phi 0: p 0.5
        np.ones((4, 4), dtype=bool),
    )
    target = labelled_set(
        logit(target_p), np.repeat(logit(reference_p)[:, None], 2, axis=1), is_out, None, population
    )
    online = OnlineRMIA(gamma=1.0)
    references = target.references
    ratio = online.likelihood_ratio(
        target.logits, references.logits, references.is_out, target.labels
    )
    np.testing.assert_allclose(ratio, [1.1, 0.5], rtol=1e-12)
    # r(x) = 1.1 dominates 3 of 4 population samples, 0.5 one of them.
    np.testing.assert_allclose(online.statistic(target), [0.75, 0.25], rtol=1e-12)
    # gamma = 2: r(x) / 2 = 0.55 and 0.25 dominate 1 and 1.
    np.testing.assert_allclose(OnlineRMIA(gamma=2.0).statistic(target), [0.25, 0.25])
    # Offline (OUT mean 0.4): r(x) = 1.65 and 0.75 dominate 4 and 2.
    np.testing.assert_allclose(RMIA(a=1.0, gamma=1.0).statistic(target), [1.0, 0.5])


def test_online_rmia_reads_what_in_references_output():
    target = synthetic_audit(0, memorized_quarter, n=200, population=100)
    references = target.references
    lowered = np.where(references.is_out[..., None], references.logits, -10.0)
    changed = dataclasses.replace(
        target, references=dataclasses.replace(references, logits=lowered)
    )
    attack = OnlineRMIA()
    assert not np.array_equal(attack.statistic(changed), attack.statistic(target))


@pytest.mark.parametrize("gamma", [0, -1.0, "2"])
def test_online_rmia_gamma_is_validated_by_name(gamma):
    with pytest.raises(ParameterError, match=r"attacks\.rmia_online\.gamma"):
        build_attack("rmia_online", {"gamma": gamma})
    with pytest.raises(ParameterError, match=r"attacks\.rmia_online\.gamma"):
        check_attack_params({"names": ["rmia"], "rmia_online": {"gamma": gamma}})


def test_online_rmia_separates_members():
    target = synthetic_audit(0, lambda rng, m: rng.uniform(0.0, 6.0, m), n=2000, population=1000)
    auc = roc_auc_score(target.is_member, OnlineRMIA().statistic(target))
    assert auc > 0.8


# ----------------------------------------------------------------------------- offline LiRA tests


def test_offline_lira_one_and_two_sided_by_hand():
    # OUT references 0, 2 (mean 1, variance 2) and 3, 5 (mean 4, variance 2); targets 3 and 2.
    target = labelled_set(
        np.array([3.0, 2.0]), np.array([[0.0, 3.0], [2.0, 5.0]]), np.ones((2, 2), dtype=bool)
    )
    one_sided = LiRA(global_variance_below=2).statistic(target)
    np.testing.assert_allclose(one_sided, [math.sqrt(2), -math.sqrt(2)], rtol=1e-12)
    np.testing.assert_array_equal(
        LiRA(global_variance_below=2, test="one_sided").statistic(target), one_sided
    )
    # -log N(phi; mu, 2) = log(4 pi) / 2 + (phi - mu)^2 / 4: one target 2 above its mean, the
    # other 2 below, so the two-sided statistic is the same for both.
    two_sided = LiRA(global_variance_below=2, test="two_sided").statistic(target)
    np.testing.assert_allclose(two_sided, [math.log(4 * math.pi) / 2 + 1] * 2, rtol=1e-12)
    np.testing.assert_allclose(
        two_sided, [-log_normal(3.0, 1.0, 2.0), -log_normal(2.0, 4.0, 2.0)], rtol=1e-12
    )


@pytest.mark.parametrize("test", ["both", "", None])
def test_offline_lira_refuses_an_unknown_test_by_name(test):
    with pytest.raises(ParameterError, match=r"attacks\.lira\.test"):
        check_attack_params({"names": ["lira"], "lira": {"test": test}})
    assert check_attack_params({"names": ["lira"], "lira": {"test": "two_sided"}}) == ["lira"]


# ----------------------------------------------------------------------------- registry, refusal


def test_online_attacks_are_registered_but_kept_out_of_the_main_pipelines():
    assert set(ONLINE_ATTACKS) <= set(AUDIT_ONLY_ATTACKS) <= set(ATTACKS)
    assert set(OFFLINE_ATTACKS) == set(ATTACKS) - set(AUDIT_ONLY_ATTACKS)
    with pytest.raises(
        ParameterError, match=r"attacks\.names has online attacks \['lira_online'\]"
    ):
        check_attack_names(["conf", "lira_online"])
    assert check_attack_names(list(ONLINE_ATTACKS), audit=True) == list(ONLINE_ATTACKS)


@pytest.mark.parametrize("name", ONLINE_ATTACKS)
def test_online_attacks_refuse_a_set_without_in_references(name):
    # The main pipelines' victim: every reference is OUT for every sample.
    target = synthetic_audit(0, memorized_quarter, n=200, population=100)
    victim = dataclasses.replace(
        target,
        references=dataclasses.replace(
            target.references, is_out=np.ones_like(target.references.is_out)
        ),
    )
    attack = ATTACKS[name]().fit([target])
    with pytest.raises(ValueError, match=NEEDS_IN):
        attack.score(victim)
    with pytest.raises(ValueError, match=NEEDS_IN):
        ATTACKS[name]().fit([victim])


@pytest.mark.parametrize("name", ONLINE_ATTACKS)
def test_online_attacks_never_read_target_membership(name):
    target = synthetic_audit(1, memorized_quarter, n=200, population=100)
    flipped = dataclasses.replace(target, is_member=~target.is_member)
    attack = ATTACKS[name]().fit([synthetic_audit(2, memorized_quarter, n=200, population=100)])
    np.testing.assert_array_equal(attack.score(target).scores, attack.score(flipped).scores)


# ----------------------------------------------------------------------------- on trained models


@pytest.mark.usefixtures("one_thread")
def test_online_lira_finds_the_canaries_overfit_models_memorized_where_offline_misses() -> None:
    """The known answer: 16 MLPs trained to the last epoch (no early stopping) on random halves
    of 200 records memorize their 20 mislabeled canaries, so a canary's confidence in its
    wrong label is high exactly when it is IN. Online LiRA, which also models the IN
    confidences, finds nearly all of them at 1% FPR; the one-sided offline test, which only
    asks how far above the OUT models a confidence lies, finds far fewer. Both use per-record
    variances (7-8 references per side here). The label-only ``label_noise`` finds them too,
    at a coarser FPR."""
    records, classes = 200, 4
    rng = np.random.default_rng(1)
    labels = np.arange(records + 100) % classes
    centers = rng.normal(size=(classes, 20))
    dataset = Dataset(
        name="blobs",
        features=(centers[labels] + rng.normal(size=(len(labels), 20))).astype(np.float32),
        labels=labels.astype(np.int64),
        is_test=np.zeros(len(labels), dtype=bool),
        class_names=tuple("abcd"),
    )
    config = audit.AuditConfig(
        num_models=16, canaries=0.1, attacks=("lira_online", "lira", "correctness", "label_noise")
    )
    pool = np.arange(records)
    planted, canaries = audit.plant_canaries(dataset, pool, config.canary_count(records), 1)
    table = audit.audit_splits(pool, np.arange(records, len(labels)), pool, config, 1)
    features, targets = dataset_tensors(planted, torch.device("cpu"))
    outputs = ModelOutputs(np.arange(len(labels)), label_noise=LabelNoise())
    overfit = TrainConfig(batch_size=32, lr=0.01, weight_decay=0.0, max_epochs=60)
    for k, name in enumerate(model_names(table)):
        model = ModelSpec("mlp", hidden=(64,)).build(planted.input_shape, classes, 100 + k)
        members = roles_of(table, name)["member"]
        fit(model, features, targets, members, None, overfit, seed=k, progress=False)
        outputs.record(name, model, (features, targets), table, seed=1)
    per_record = {"global_variance_below": 4}
    params = {"lira": per_record, "lira_online": per_record}
    scores = audit.score_every_target("dense", outputs, table, planted.labels, params, config, 1)
    on_canaries = scores[scores["sample_index"].isin(canaries)]
    found = {
        attack: tpr_at_fpr(rows["is_member"], rows["score"], 0.01)
        for attack, rows in on_canaries.groupby("attack")
    }
    assert on_canaries["is_member"].sum() > 140  # about 300 canary pairs: 1% FPR is resolved
    assert found["lira_online"] >= 0.95, found
    assert found["lira"] <= found["lira_online"] - 0.2, found
    # Label-only: an IN canary keeps its wrong label under noise, an OUT one mostly does not;
    # the few OUT canaries the models label wrongly anyway (5% here) tie with the IN ones at
    # the top, so the label attacks resolve 10% FPR, not 1%.
    label_only = on_canaries[on_canaries["attack"] == "label_noise"]
    assert roc_auc_score(label_only["is_member"], label_only["score"]) >= 0.95
    assert tpr_at_fpr(label_only["is_member"], label_only["score"], 0.1) >= 0.95
