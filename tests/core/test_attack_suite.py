"""Tests for the reference attacks (LiRA, RMIA), SAMIA's input sensitivity and attack options.

Every test builds synthetic outputs whose right answer is known: an analytic AUC, a
hand-computed statistic or threshold, or a loop that recomputes a vectorised function.
Two-class logits ``[phi, 0]`` with label 0 are used throughout, because their logit-scaled
confidence is exactly ``phi`` and their true-class probability is ``sigmoid(phi)``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from sklearn.metrics import roc_auc_score
from torch import nn

from wemem_pipeline.core.attacks import MembershipSet, References, check_attack_params
from wemem_pipeline.core.attacks.lira import LiRA, scaled_confidence
from wemem_pipeline.core.attacks.rmia import RMIA
from wemem_pipeline.core.attacks.samia import SAMIA, input_sensitivity
from wemem_pipeline.core.metrics import tpr_at_fpr
from wemem_pipeline.core.parameter_checks import validate_parameters
from wemem_pipeline.core.validation import ParameterError


def two_class(phi: np.ndarray) -> np.ndarray:
    """Logits ``[phi, 0]`` along a new last axis: label 0 has scaled confidence ``phi``."""
    phi = np.asarray(phi, dtype=np.float64)
    return np.stack([phi, np.zeros_like(phi)], axis=-1)


def logit(p: Any) -> np.ndarray:
    """``phi`` whose two-class logits ``[phi, 0]`` give label 0 the probability ``p``."""
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def with_references(
    target_phi: np.ndarray,
    reference_phi: np.ndarray,
    is_out: np.ndarray,
    is_member: np.ndarray,
    population_phi: np.ndarray | None = None,
    population_reference_phi: np.ndarray | None = None,
    population_is_out: np.ndarray | None = None,
) -> MembershipSet:
    """A two-class set (every label 0) with K reference models; no population unless given."""
    n, k = len(target_phi), len(reference_phi)
    if population_phi is None:
        population_phi = np.zeros(0)
        population_reference_phi = np.zeros((k, 0))
        population_is_out = np.zeros((k, 0), dtype=bool)
    references = References(
        logits=two_class(reference_phi),
        is_out=np.asarray(is_out, dtype=bool),
        population_labels=np.zeros(len(population_phi), dtype=np.int64),
        population_target_logits=two_class(population_phi),
        population_logits=two_class(population_reference_phi),
        population_is_out=np.asarray(population_is_out, dtype=bool),
    )
    return MembershipSet(
        sample_index=np.arange(n),
        logits=two_class(target_phi),
        labels=np.zeros(n, dtype=np.int64),
        is_member=np.asarray(is_member, dtype=bool),
        references=references,
    )


# ----------------------------------------------------------------------------- LiRA: analytic AUC

# Each sample i has its own OUT mean mu_i, spread far wider than the membership shift, so the
# target's raw phi barely separates members; only the comparison with references does.
LIRA_SAMPLES = 6000
SHIFT = 1.3  # members' phi is shifted by SHIFT * sigma_i


def gaussian_lira_problem(
    k: int, seed: int, heteroscedastic: bool
) -> tuple[MembershipSet, np.ndarray, np.ndarray]:
    """References' phi ~ N(mu_i, sigma_i); target's ~ N(mu_i + SHIFT sigma_i [member], sigma_i).

    Returns the set, the target's phi and the references' phi.
    """
    rng = np.random.default_rng(seed)
    n = LIRA_SAMPLES
    mu = rng.uniform(-20.0, 20.0, n)
    log_sigma = rng.uniform(math.log(0.2), math.log(5.0), n) if heteroscedastic else np.zeros(n)
    sigma = np.exp(log_sigma)
    is_member = np.arange(n) % 2 == 0
    phi = mu + SHIFT * sigma * is_member + sigma * rng.standard_normal(n)
    reference_phi = mu + sigma * rng.standard_normal((k, n))
    target = with_references(phi, reference_phi, np.ones((k, n), dtype=bool), is_member)
    return target, phi, reference_phi


def test_scaled_confidence_of_two_class_logits_is_phi():
    # log p_0 - log p_1 = phi - 0 exactly: logsumexp over the single other class is its logit.
    phi = np.array([-37.5, -1.0, 0.0, 0.25, 3.0, 800.0])
    np.testing.assert_array_equal(scaled_confidence(two_class(phi), np.zeros(6, dtype=int)), phi)
    # With the label on the other class the sign flips.
    np.testing.assert_array_equal(scaled_confidence(two_class(phi), np.ones(6, dtype=int)), -phi)


def test_lira_pooled_variance_reaches_the_analytic_auc():
    # K = 4 OUT references, below global_variance_below = 32: one variance pooled over the
    # 6000 samples (18000 degrees of freedom, so it is sigma^2 = 1 to within 1%).
    # z = (phi - mean_K) / sigma; mean_K = mu_i + N(0, sigma^2 / K), independent of the target:
    #   non-members z ~ N(0, 1 + 1/K), members z ~ N(SHIFT, 1 + 1/K)
    #   AUC = P(z_member > z_non) = Phi(SHIFT / sqrt(2 (1 + 1/K))) = Phi(0.822) = 0.795.
    k = 4
    target, phi, reference_phi = gaussian_lira_problem(k, seed=0, heteroscedastic=False)
    z = LiRA(global_variance_below=32).statistic(target)
    expected = stats.norm.cdf(SHIFT / math.sqrt(2.0 * (1.0 + 1.0 / k)))
    assert 0.75 < expected < 0.85
    assert roc_auc_score(target.is_member, z) == pytest.approx(expected, abs=0.03)
    # The references are what make it work: raw phi is nearly useless (mu_i spans 40 sigma).
    assert roc_auc_score(target.is_member, phi) < 0.6
    # Pooled path: every sample shares one denominator, close to the true sigma = 1 (samples
    # with z near 0 would only measure rounding).
    clear = np.abs(z) > 0.1
    denominator = (phi - reference_phi.mean(axis=0))[clear] / z[clear]
    assert np.ptp(denominator) < 1e-9
    assert denominator[0] == pytest.approx(1.0, abs=0.02)


def expected_auc_per_example_variance(k: int) -> float:
    """AUC of LiRA's z when each sample's variance is estimated from its own K references.

    With sample mean m and sample standard deviation s (K - 1 degrees of freedom, independent
    of m and of the target), z = (phi - m) / s = sqrt(1 + 1/K) T with T Student-t, K - 1 dof:
    central for non-members, non-central with nc = SHIFT / sqrt(1 + 1/K) for members (the
    shift is SHIFT sigma_i, so sigma_i cancels). AUC = P(T_member > T_non)
    = integral of nct.sf(t) t.pdf(t) dt.
    """
    df, nc = k - 1, SHIFT / math.sqrt(1.0 + 1.0 / k)
    value, _ = integrate.quad(
        lambda t: stats.nct.sf(t, df, nc) * stats.t.pdf(t, df), -np.inf, np.inf
    )
    return value


def test_lira_per_example_variance_reaches_the_analytic_auc():
    # K = 64 >= global_variance_below = 32: each sample's own variance. The sigma_i differ by a
    # factor 25 across samples, which a pooled variance would get wrong.
    k = 64
    target, phi, reference_phi = gaussian_lira_problem(k, seed=1, heteroscedastic=True)
    z = LiRA(global_variance_below=32).statistic(target)
    expected = expected_auc_per_example_variance(k)
    # The t correction is small at K = 64: the Gaussian formula would give 0.819, t gives 0.818.
    assert expected == pytest.approx(stats.norm.cdf(SHIFT / math.sqrt(2 * (1 + 1 / k))), abs=0.005)
    assert roc_auc_score(target.is_member, z) == pytest.approx(expected, abs=0.03)
    # Per-example path: the denominator is each sample's own standard deviation (ddof 1).
    np.testing.assert_allclose(
        z * reference_phi.std(axis=0, ddof=1), phi - reference_phi.mean(axis=0), atol=1e-9
    )


# ----------------------------------------------------------------------------- LiRA/RMIA: IN refs

# A shadow of 8 samples and 4 reference models. Samples 0-4 have three OUT references and one
# IN reference; samples 5-7 (members) have only IN references, so their statistic is undefined.
# The defined statistics are hand-placed as M, N, M, N, N from the top: the best rule is
# "statistic >= the second member's value" (TPR 1, TNR 2/3, balanced accuracy 0.833). Were the
# 3 undefined members counted, the member total would be 5, and predicting only the top sample
# (0.5 (1/5 + 1) = 0.6) would beat predicting the top three (0.5 (2/5 + 2/3) = 0.533).
SHADOW_MEMBER = np.array([True, False, True, False, False, True, True, True])
SHADOW_IS_OUT = np.array([[True] * 5 + [False] * 3] * 3 + [[False] * 8])


def lira_shadow() -> tuple[MembershipSet, np.ndarray, float]:
    """Per-sample offsets mu; OUT references at mu - 1, mu, mu + 1 (mean mu, variance 1).

    The pooled variance is 5 * 2 / (5 * 2) = 1, so z = phi - mu: 3, 2, 1, 0, -1, and the
    threshold is 1. The IN reference says 100, which would wreck mean and variance if used.
    """
    mu = np.array([5.0, -3.0, 0.0, 2.0, 7.0, 0.0, 0.0, 0.0])
    phi = mu + np.array([3.0, 2.0, 1.0, 0.0, -1.0, 50.0, 50.0, 50.0])
    reference_phi = np.stack([mu - 1.0, mu, mu + 1.0, np.full(8, 100.0)])
    expected = np.array([3.0, 2.0, 1.0, 0.0, -1.0, np.nan, np.nan, np.nan])
    return with_references(phi, reference_phi, SHADOW_IS_OUT, SHADOW_MEMBER), expected, 1.0


def rmia_shadow() -> tuple[MembershipSet, np.ndarray, float]:
    """a = 1, gamma = 1: r(x) = p(x | target) / p_OUT(x), score = fraction of r(z) <= r(x).

    OUT references give p 0.4, 0.5, 0.6 (p_OUT = 0.5) and the IN reference 0.99. Population
    ratios: p 0.1, 0.3, 0.5, 0.7 over p_OUT 0.5 = 0.2, 0.6, 1.0, 1.4; a fifth population sample
    has only IN references and must be dropped (else the fractions would be out of 5). Targets
    p 0.9, 0.6, 0.4, 0.2, 0.05 give r 1.8, 1.2, 0.8, 0.4, 0.1: scores 4/4, 3/4, 2/4, 1/4, 0/4,
    and the threshold is 0.5.
    """
    out_p = np.array([0.4, 0.5, 0.6, 0.99])
    phi = logit([0.9, 0.6, 0.4, 0.2, 0.05, 0.99, 0.99, 0.99])
    reference_phi = np.repeat(logit(out_p)[:, None], 8, axis=1)
    population_phi = logit([0.1, 0.3, 0.5, 0.7, 0.95])
    population_reference_phi = np.repeat(logit(out_p)[:, None], 5, axis=1)
    population_is_out = np.array([[True] * 4 + [False]] * 3 + [[False] * 5])
    shadow = with_references(
        phi,
        reference_phi,
        SHADOW_IS_OUT,
        SHADOW_MEMBER,
        population_phi,
        population_reference_phi,
        population_is_out,
    )
    expected = np.array([1.0, 0.75, 0.5, 0.25, 0.0, np.nan, np.nan, np.nan])
    return shadow, expected, 0.5


REFERENCE_CASES = {
    "lira": (LiRA, lira_shadow),
    "rmia": (lambda: RMIA(a=1.0, gamma=1.0), rmia_shadow),
}


def only_samples(target: MembershipSet, keep: np.ndarray) -> MembershipSet:
    """The set restricted to the samples ``keep`` (the population is kept whole)."""
    references = dataclasses.replace(
        target.references,
        logits=target.references.logits[:, keep],
        is_out=target.references.is_out[:, keep],
    )
    return MembershipSet(
        target.sample_index[keep],
        target.logits[keep],
        target.labels[keep],
        target.is_member[keep],
        references=references,
    )


@pytest.mark.parametrize("name", REFERENCE_CASES)
def test_reference_attack_calibrates_only_on_samples_with_out_references(name):
    factory, build = REFERENCE_CASES[name]
    shadow, expected, threshold = build()
    attack = factory()
    np.testing.assert_allclose(attack.statistic(shadow), expected, rtol=1e-12, atol=1e-12)
    assert attack.fit([shadow]).threshold == pytest.approx(threshold, abs=1e-12)
    # Scoring a target whose samples all have OUT references: statistic minus threshold.
    defined = np.arange(5)
    result = attack.score(only_samples(shadow, defined))
    np.testing.assert_allclose(result.scores, expected[defined] - threshold, atol=1e-12)
    np.testing.assert_array_equal(result.predicted_member, [True, True, True, False, False])
    # A target sample without any OUT reference cannot be scored.
    with pytest.raises(ValueError, match="3 target samples have no OUT reference"):
        attack.score(shadow)
    with pytest.raises(ValueError, match="1 target samples have no OUT reference"):
        attack.score(only_samples(shadow, np.array([0, 1, 7])))


@pytest.mark.parametrize("name", REFERENCE_CASES)
def test_statistic_ignores_what_in_references_output(name):
    factory, build = REFERENCE_CASES[name]
    shadow, _, _ = build()
    references = shadow.references
    rng = np.random.default_rng(7)

    def scramble(logits: np.ndarray, is_out: np.ndarray) -> np.ndarray:
        noise = rng.normal(0.0, 10.0, logits.shape)
        return np.where(is_out[..., None], logits, noise)

    scrambled = dataclasses.replace(
        shadow,
        references=dataclasses.replace(
            references,
            logits=scramble(references.logits, references.is_out),
            population_logits=scramble(references.population_logits, references.population_is_out),
        ),
    )
    assert not np.array_equal(scrambled.references.logits, references.logits)
    attack = factory()
    # assert_array_equal treats NaNs in the same places as equal.
    np.testing.assert_array_equal(attack.statistic(scrambled), attack.statistic(shadow))


# ----------------------------------------------------------------------------- RMIA by hand


def three_class_logits(p: list[float], labels: list[int]) -> np.ndarray:
    """Logits whose softmax gives the true class ``p`` and splits the rest evenly."""
    rows = np.tile(((1.0 - np.asarray(p)) / 2.0)[:, None], (1, 3))
    rows[np.arange(len(p)), labels] = p
    return np.log(rows)


def test_rmia_statistic_by_hand():
    # a = 0.5, gamma = 1.5, two OUT references; p(x) = ((1 + a) p_OUT + (1 - a)) / 2
    #                     = 0.75 p_OUT + 0.25.
    # target  p_t   refs       p_OUT  p(x)    r = p_t / p(x)
    # x1      0.9   0.6, 0.4   0.5    0.625   1.44
    # x2      0.5   0.2, 0.4   0.3    0.475   1.0526
    # x3      0.2   0.8, 0.6   0.7    0.775   0.2581
    # population
    # z1      0.3   0.3, 0.3   0.3    0.475   0.6316
    # z2      0.6   0.1, 0.3   0.2    0.4     1.5
    # z3      0.1   0.5, 0.5   0.5    0.625   0.16
    # z4      0.8   0.9, 0.7   0.8    0.85    0.9412
    # x dominates z when r(z) <= r(x) / 1.5:
    #   x1: 0.96   -> z1, z3, z4 -> 3/4;  x2: 0.7018 -> z1, z3 -> 2/4;  x3: 0.1720 -> z3 -> 1/4.
    labels, population_labels = [0, 1, 2], [2, 0, 1, 1]
    references = References(
        logits=np.stack(
            [
                three_class_logits([0.6, 0.2, 0.8], labels),
                three_class_logits([0.4, 0.4, 0.6], labels),
            ]
        ),
        is_out=np.ones((2, 3), dtype=bool),
        population_labels=np.array(population_labels),
        population_target_logits=three_class_logits([0.3, 0.6, 0.1, 0.8], population_labels),
        population_logits=np.stack(
            [
                three_class_logits([0.3, 0.1, 0.5, 0.9], population_labels),
                three_class_logits([0.3, 0.3, 0.5, 0.7], population_labels),
            ]
        ),
        population_is_out=np.ones((2, 4), dtype=bool),
    )
    target = MembershipSet(
        sample_index=np.arange(3),
        logits=three_class_logits([0.9, 0.5, 0.2], labels),
        labels=np.array(labels),
        is_member=np.array([True, False, False]),
        references=references,
    )
    attack = RMIA(a=0.5, gamma=1.5)
    ratio = attack.likelihood_ratio(target.logits, references.logits, references.is_out, labels)
    np.testing.assert_allclose(ratio, [0.9 / 0.625, 0.5 / 0.475, 0.2 / 0.775], rtol=1e-9)
    np.testing.assert_allclose(attack.statistic(target), [0.75, 0.5, 0.25], rtol=1e-12)
    # With a = 1 (p(x) = p_OUT) and gamma = 1 the ratios are 1.8, 1.667, 0.286 against
    # population 1.0, 3.0, 0.2, 1.0: x1 and x2 dominate z1, z3, z4, x3 only z3.
    np.testing.assert_allclose(
        RMIA(a=1.0, gamma=1.0).statistic(target), [0.75, 0.75, 0.25], rtol=1e-12
    )


# ----------------------------------------------------------------------------- SAMIA sensitivity


@torch.no_grad()
def sensitivity_one_perturbation_at_a_time(
    model: nn.Module,
    features: torch.Tensor,
    indices: np.ndarray,
    *,
    perturbations: int,
    scale: float,
    seed: int,
    batch_size: int,
) -> np.ndarray:
    """The definition, one forward pass per perturbation, drawing the noise as the function does.

    The function draws ``randn((perturbations, *inputs.shape))`` once per batch of
    ``batch_size`` samples from one generator, so the loop draws the same blocks in order.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for start in range(0, len(indices), batch_size):
        inputs = features[torch.as_tensor(indices[start : start + batch_size])]
        clean = torch.softmax(model(inputs), dim=1)
        noise = torch.randn((perturbations, *inputs.shape), generator=generator, dtype=inputs.dtype)
        total = torch.zeros_like(clean)
        for u in noise:
            total += (torch.softmax(model(inputs + scale * u), dim=1) - clean).abs()
        rows.append(total / perturbations / scale)
    return torch.cat(rows).numpy()


def tiny_linear(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Linear(5, 3).double()
    features = torch.randn(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return model, features


def test_batched_sensitivity_equals_one_perturbation_at_a_time():
    model, features = tiny_linear()
    indices = np.array([7, 2, 11, 0, 5, 9, 3])  # batches of 3, 3 and 1
    options = {"perturbations": 6, "scale": 1e-2, "seed": 3, "batch_size": 3}
    batched = input_sensitivity(model, features, indices, **options)
    looped = sensitivity_one_perturbation_at_a_time(model, features, indices, **options)
    assert batched.shape == (7, 3)
    np.testing.assert_allclose(batched, looped, rtol=1e-10, atol=1e-12)
    # The noise matters: another seed gives other values (so the match above is not vacuous).
    options["seed"] = 4
    other = sensitivity_one_perturbation_at_a_time(model, features, indices, **options)
    assert np.abs(other - looped).max() > 1e-3


def test_sensitivity_of_linear_softmax_model_is_its_jacobian():
    # f(x) = softmax(W x + b): to first order softmax(f(x + s u)) - softmax(f(x)) = s J u with
    # J = (diag(p) - p p^T) W, so the sensitivity of class c is mean_u |(J u)_c| + O(s).
    model, features = tiny_linear()
    indices = np.array([1, 4, 6])
    perturbations, scale, seed = 2000, 1e-6, 5
    result = input_sensitivity(
        model, features, indices, perturbations=perturbations, scale=scale, seed=seed
    )
    weight = model.weight.detach().numpy()
    p = torch.softmax(model(features[indices]), dim=1).detach().numpy()
    jacobians = np.stack([(np.diag(row) - np.outer(row, row)) @ weight for row in p])  # (3, 3, 5)
    # The same draws as the function (all 3 samples fit in one batch).
    u = torch.randn(
        (perturbations, 3, 5), generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    ).numpy()
    same_draws = np.abs(np.einsum("ncd,pnd->pnc", jacobians, u)).mean(axis=0)
    np.testing.assert_allclose(result, same_draws, rtol=1e-4)
    # And its expectation: (J u)_c ~ N(0, |J_c|^2), E|N(0, v)| = sqrt(2 v / pi). 2000 draws
    # leave a relative Monte Carlo error of about 0.76 / sqrt(2000) = 1.7%.
    expectation = math.sqrt(2.0 / math.pi) * np.linalg.norm(jacobians, axis=2)
    np.testing.assert_allclose(result, expectation, rtol=0.07)


class Constant(nn.Module):
    """Returns the same logits whatever the input."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor([0.3, -1.0, 2.0]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(inputs), -1)


def test_model_that_ignores_its_input_has_zero_sensitivity():
    features = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
    indices = np.arange(20)
    result = input_sensitivity(Constant(), features, indices, batch_size=8)
    assert result.shape == (20, 3)
    assert np.all(result == 0.0)
    # A model that reads its input moves under the same noise.
    torch.manual_seed(0)
    assert np.all(input_sensitivity(nn.Linear(4, 3), features, indices, batch_size=8) > 0)


def samia_set(seed: int, with_sensitivity: bool) -> MembershipSet:
    rng = np.random.default_rng(seed)
    n = 24
    sensitivity = np.abs(rng.normal(0.0, 1.0, (n, 3))) if with_sensitivity else None
    return MembershipSet(
        np.arange(n),
        rng.normal(0.0, 1.0, (n, 3)),
        np.arange(n) % 3,
        np.arange(n) % 2 == 0,
        sensitivity=sensitivity,
    )


def test_samia_needs_sensitivity():
    small = {"width": 4, "heads": 1, "epochs": 1}
    without = samia_set(0, with_sensitivity=False)
    with pytest.raises(ValueError, match="samia attack needs the model's input sensitivity"):
        SAMIA(**small).fit([samia_set(1, with_sensitivity=True), without])
    attack = SAMIA(**small).fit([samia_set(1, with_sensitivity=True)])
    assert attack.score(samia_set(2, with_sensitivity=True)).scores.shape == (24,)
    with pytest.raises(ValueError, match="samia attack needs the model's input sensitivity"):
        attack.score(without)


# ----------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"names": ["nope"]}, r"attacks\.names has unknown attacks \['nope'\]"),
        ({"names": []}, r"attacks\.names must be a non-empty list"),
        ({"lira": {}}, r"attacks\.names must be a non-empty list"),
        ({"names": ["lira"], "lira": {"typo": 1}}, r"attacks\.lira has unknown keys \['typo'\]"),
        ({"names": ["lira"], "nope": {}}, r"attacks\.nope is not an attack's options"),
        ({"names": ["lira"], "lira": 32}, r"attacks\.lira is not an attack's options"),
        ({"names": ["rmia"], "rmia": {"a": -0.1}}, r"attacks\.rmia\.a must be .* \[0\.0, 1\.0\]"),
        ({"names": ["rmia"], "rmia": {"a": 1.5}}, r"attacks\.rmia\.a .* got 1\.5"),
        ({"names": ["rmia"], "rmia": {"gamma": 0}}, r"attacks\.rmia\.gamma .* \(0\.0, inf\]"),
        ({"names": ["rmia"], "rmia": {"gamma": -1.0}}, r"attacks\.rmia\.gamma .* got -1\.0"),
        (
            {"names": ["lira"], "lira": {"global_variance_below": 1}},
            r"attacks\.lira\.global_variance_below must be an integer >= 2, got 1",
        ),
        (
            {"names": ["lira"], "lira": {"global_variance_below": 8.0}},
            r"attacks\.lira\.global_variance_below .* got 8\.0",
        ),
    ],
)
def test_bad_attack_params_name_the_parameter(params, pattern):
    with pytest.raises(ParameterError, match=pattern):
        check_attack_params(params)


def test_boundary_attack_params_are_accepted():
    # The closed ends of the allowed ranges are allowed (so the cases above test the bound).
    params = {
        "names": ["lira", "rmia"],
        "lira": {"global_variance_below": 2},
        "rmia": {"a": 0.0, "gamma": 1e-9},
    }
    assert check_attack_params(params, num_shadows=3) == ["lira", "rmia"]
    assert check_attack_params({"names": ["rmia"], "rmia": {"a": 1}}) == ["rmia"]


def test_samia_width_must_divide_into_heads():
    # Both options are named.
    with pytest.raises(
        ParameterError, match=r"attacks\.samia\.width \(5\) .* attacks\.samia\.heads \(2\)"
    ):
        check_attack_params({"names": ["samia"], "samia": {"width": 5, "heads": 2}})


def test_lira_needs_three_shadows():
    with pytest.raises(ParameterError, match=r"split\.num_shadows >= 3 .* got 2"):
        check_attack_params({"names": ["conf", "lira"]}, num_shadows=2)
    # Only LiRA needs them.
    assert check_attack_params({"names": ["conf", "rmia"]}, num_shadows=2) == ["conf", "rmia"]
    assert check_attack_params({"names": ["lira"]}, num_shadows=3) == ["lira"]


def test_validate_parameters_rejects_lira_with_two_shadows(base_parameters):
    params = base_parameters
    assert "lira" in params["attacks"]["names"]
    validate_parameters(params)  # the shipped parameters are fine
    two = copy.deepcopy(params)
    two["split"]["num_shadows"] = 2
    with pytest.raises(ParameterError, match=r"split\.num_shadows"):
        validate_parameters(two)
    # Without LiRA two shadows are enough.
    two["attacks"]["names"] = [name for name in params["attacks"]["names"] if name != "lira"]
    validate_parameters(two)


@pytest.mark.parametrize("max_fpr", [0, 0.0, 1, 1.0, -0.1, 1.5])
def test_tpr_at_fpr_rejects_max_fpr_outside_the_open_unit_interval(max_fpr):
    is_member = np.array([True, False, True, False])
    scores = np.array([0.9, 0.1, 0.4, 0.6])
    with pytest.raises(ParameterError, match=r"max_fpr must be a number in \(0\.0, 1\.0\)"):
        tpr_at_fpr(is_member, scores, max_fpr)
    assert tpr_at_fpr(is_member, scores, 0.5) == 1.0  # ">= 0.4": both members, 1 of 2 others
