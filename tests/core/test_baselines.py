"""Tests for the baseline defenses (PPB, AdvReg, DP-SGD, RelaxLoss, HAMP).

Each loss or transform is checked on a few hand-made tensors whose right answer is written
down here; the training-step tests take one or a few steps of a tiny MLP on 40 synthetic
samples (the whole file runs in seconds on 2 CPU cores).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from wemem_pipeline.core.defenses import (
    BASELINE_NAMES,
    DEFENSE_NAMES,
    DefenseContext,
    NoDefense,
    SampleGroup,
    build_defense,
    check_defense_settings,
)
from wemem_pipeline.core.defenses import dpsgd as dpsgd_module
from wemem_pipeline.core.defenses.advreg import AdversarialRegularization, _attack_inputs
from wemem_pipeline.core.defenses.base import Baseline, Defense
from wemem_pipeline.core.defenses.dpsgd import (
    DPSGD,
    _only_linear_layers,
    clipped_gradient_sum,
    clipped_sum,
    epsilon_bound,
    linear_clipped_sum,
    noisy_mean,
    per_example_gradients,
)
from wemem_pipeline.core.defenses.hamp import (
    HAMP,
    RandomPosteriorOutputs,
    label_entropy,
    soft_label_confidence,
    soft_labels,
)
from wemem_pipeline.core.defenses.ppb import PPB, sorted_posterior_divergence
from wemem_pipeline.core.defenses.relaxloss import flattened_targets, relaxed_loss
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.pruning import prune_to_sparsity
from wemem_pipeline.core.training import TrainConfig, fit, make_optimizer
from wemem_pipeline.core.validation import ParameterError

# ----------------------------------------------------------------------------- toy data
# 40 samples, 6 features, 3 classes; rows 0-29 are the members, rows 30-39 the dev samples
# (the reference non-members AdvReg needs).
N_FEATURES, N_CLASSES = 6, 3
_GENERATOR = torch.Generator().manual_seed(0)
FEATURES = torch.randn((40, N_FEATURES), generator=_GENERATOR)
LABELS = torch.arange(40) % N_CLASSES
MEMBERS = np.arange(30)
DEV = torch.arange(30, 40)
ALL = SampleGroup("all", MEMBERS)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0) -> nn.Module:
    return ModelSpec("mlp", hidden=(8,)).build((N_FEATURES,), N_CLASSES, seed)


def parameters_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def context(members: np.ndarray = MEMBERS) -> DefenseContext:
    """Every label of the 40 rows, 3 classes, no mem-scores, no base decay, seed 0."""
    return DefenseContext(members, LABELS.numpy(), N_CLASSES)


def baseline(name: str, settings: dict[str, Any] | None = None, members=MEMBERS) -> Defense:
    return build_defense(name, settings, context(members), section=name)


def one_step(defense: Defense, rows: slice = slice(0, 12), epoch: int = 0) -> list[torch.Tensor]:
    """The weights of a fresh tiny MLP after ``defense`` took one Adam step on ``rows``."""
    model = tiny_model()
    optimizer = make_optimizer(list(model.parameters()), TrainConfig(lr=0.05, weight_decay=0.0))
    defense.start(model, FEATURES, LABELS, DEV)
    defense.train_step(model, FEATURES[rows], LABELS[rows], optimizer, ALL, epoch)
    return parameters_of(model)


def assert_moved_by(
    model: nn.Module, reference: nn.Module, gradients: list[torch.Tensor] | dict[str, torch.Tensor]
) -> None:
    """``model`` is ``reference`` after one SGD step of lr 1 along ``gradients``."""
    if isinstance(gradients, dict):
        gradients = [gradients[name] for name, _ in reference.named_parameters()]
    for after, before, gradient in zip(
        model.parameters(), reference.parameters(), gradients, strict=True
    ):
        torch.testing.assert_close(after.detach(), (before - gradient).detach())


def same_weights(first: list[torch.Tensor], second: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# ----------------------------------------------------------------------------- registration


def test_every_baseline_is_registered_and_builds_with_its_defaults():
    assert set(BASELINE_NAMES) <= set(DEFENSE_NAMES)
    model = tiny_model()
    for name in BASELINE_NAMES:
        check_defense_settings(name, None, f"compare.defenses.{name}")
        defense = baseline(name)
        assert defense.name == name
        assert isinstance(defense, Baseline) and defense.context.num_classes == N_CLASSES
        # Every baseline trains on every member every epoch, in one group.
        groups = defense.plan_epoch(3)
        assert len(groups) == 1 and groups[0].indices.tolist() == MEMBERS.tolist()
        # Only HAMP changes what the model answers; only DP-SGD reports a privacy budget.
        assert (defense.inference_model(model) is model) == (name != "hamp")
        assert ("epsilon" in defense.summary()) == (name == "dpsgd")


def test_the_settings_key_lambda_sets_the_lambda_field():
    assert baseline("ppb", {"lambda": 2.5}).config.lambda_ == 2.5
    assert baseline("advreg", {"lambda": 3, "inner_steps": 2}).config.lambda_ == 3
    assert baseline("ppb").config.lambda_ == 4.0  # the default when the key is absent


@pytest.mark.parametrize(
    ("defense", "settings", "parameter"),
    [
        ("ppb", {"lambda": -1}, "compare.defenses.ppb.lambda"),
        ("ppb", {"lambda": "big"}, "compare.defenses.ppb.lambda"),
        ("advreg", {"lambda": -0.5}, "compare.defenses.advreg.lambda"),
        ("advreg", {"inner_steps": 0}, "compare.defenses.advreg.inner_steps"),
        ("advreg", {"inner_steps": 2.5}, "compare.defenses.advreg.inner_steps"),
        ("advreg", {"attack_lr": 0}, "compare.defenses.advreg.attack_lr"),
        ("dpsgd", {"noise_multiplier": 0}, "compare.defenses.dpsgd.noise_multiplier"),
        ("dpsgd", {"noise_multiplier": -1.0}, "compare.defenses.dpsgd.noise_multiplier"),
        ("dpsgd", {"max_grad_norm": 0}, "compare.defenses.dpsgd.max_grad_norm"),
        ("relaxloss", {"alpha": 0}, "compare.defenses.relaxloss.alpha"),
        ("hamp", {"gamma": 0}, "compare.defenses.hamp.gamma"),
        ("hamp", {"gamma": 1}, "compare.defenses.hamp.gamma"),
        ("hamp", {"alpha": -0.1}, "compare.defenses.hamp.alpha"),
    ],
)
def test_bad_baseline_settings_name_the_parameter(defense, settings, parameter):
    with pytest.raises(ParameterError) as error:
        check_defense_settings(defense, settings, f"compare.defenses.{defense}")
    assert parameter in str(error.value)
    assert repr(next(iter(settings.values()))) in str(error.value)  # and the bad value


def test_edge_values_inside_the_allowed_ranges_are_accepted():
    check_defense_settings("ppb", {"lambda": 0}, "s")
    check_defense_settings("advreg", {"lambda": 0, "inner_steps": 1}, "s")
    check_defense_settings("dpsgd", {"noise_multiplier": 1e-3, "max_grad_norm": 1e-3}, "s")
    check_defense_settings("hamp", {"gamma": 0.999, "alpha": 0}, "s")


@pytest.mark.parametrize("defense", ["ppb", "advreg"])
def test_unknown_key_lists_the_settings_spelling_of_lambda(defense):
    with pytest.raises(ParameterError) as error:
        check_defense_settings(defense, {"lamda": 1}, f"compare.defenses.{defense}")
    message = str(error.value)
    assert f"compare.defenses.{defense}" in message
    assert "'lamda'" in message
    assert "'lambda'" in message  # what the user should write ...
    assert "lambda_" not in message  # ... not the dataclass field
    assert "section" not in message  # an internal field, not a setting


# ----------------------------------------------------------------------------- base class


def test_base_train_step_is_one_plain_cross_entropy_step():
    # One SGD step of lr 1 moves every weight by minus the mean CE gradient.
    model, reference = tiny_model(), tiny_model()
    inputs, targets = FEATURES[:10], LABELS[:10]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses = NoDefense(MEMBERS).train_step(model, inputs, targets, optimizer, ALL, 0)
    expected_losses = nn.functional.cross_entropy(reference(inputs), targets, reduction="none")
    torch.testing.assert_close(losses, expected_losses.detach())
    assert not losses.requires_grad
    gradients = torch.autograd.grad(expected_losses.mean(), list(reference.parameters()))
    assert_moved_by(model, reference, gradients)


def test_base_defense_hooks_change_nothing():
    model = tiny_model()
    defense = Defense()
    assert defense.prepare(model) is model
    assert defense.inference_model(model) is model
    assert defense.start(model, FEATURES, LABELS, None) is None
    assert defense.summary() == {}
    assert list(defense.optimizers()) == ["all"]
    with pytest.raises(NotImplementedError):
        defense.plan_epoch(0)


# ----------------------------------------------------------------------------- PPB


def _log(values: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly ``values`` (each row sums to 1)."""
    return torch.tensor(values, dtype=torch.float64).log()


def test_ppb_divergence_is_zero_when_sorted_posteriors_match():
    first = [[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
    # The same posteriors with the classes in another order: sorting removes the class.
    second = [[-1.0, 2.0, 0.0], [0.0, 0.5, 0.5]]
    logits = torch.tensor(first + second)
    assert sorted_posterior_divergence(logits).item() == 0.0
    same = torch.tensor(first + first)
    assert sorted_posterior_divergence(same).item() == 0.0
    # Shifting logits keeps the posterior (up to rounding).
    shifted = torch.tensor(first + [[5.0, 3.0, 2.0], [-7.0, -7.5, -7.0]])
    assert abs(sorted_posterior_divergence(shifted).item()) < 1e-6


def test_ppb_divergence_is_positive_when_shapes_differ():
    confident_vs_flat = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.1, 0.0]])
    assert sorted_posterior_divergence(confident_vs_flat).item() > 0.1
    # KL is not symmetric, but both orders are positive.
    assert sorted_posterior_divergence(confident_vs_flat.flip(0)).item() > 0.1


def test_ppb_divergence_equals_a_hand_computed_kl():
    # Sorted posteriors: p = (.7, .2, .1) and q = (.5, .3, .2), classes deliberately shuffled.
    logits = _log([[0.1, 0.7, 0.2], [0.2, 0.3, 0.5]])
    kl = 0.7 * math.log(0.7 / 0.5) + 0.2 * math.log(0.2 / 0.3) + 0.1 * math.log(0.1 / 0.2)
    assert sorted_posterior_divergence(logits).item() == pytest.approx(kl, rel=1e-12)


def test_ppb_pairs_the_i_th_sample_of_each_half_and_averages():
    # Batch of 4: pairs are (0, 2) and (1, 3). Rows 0 and 2 match (KL 0); rows 1 and 3 give
    # the hand-computed KL above, so the mean is half of it. Pairing neighbours (0, 1), (2, 3)
    # would give another number.
    p, q, r = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1]
    logits = _log([r, p, r, q])
    kl = 0.7 * math.log(0.7 / 0.5) + 0.2 * math.log(0.2 / 0.3) + 0.1 * math.log(0.1 / 0.2)
    assert sorted_posterior_divergence(logits).item() == pytest.approx(kl / 2, rel=1e-12)
    # An odd batch leaves its last sample out of the pairs.
    odd = torch.cat([logits, _log([[0.98, 0.01, 0.01]])])
    assert sorted_posterior_divergence(odd).item() == pytest.approx(kl / 2, rel=1e-12)


def test_ppb_divergence_of_a_single_sample_is_zero():
    assert sorted_posterior_divergence(torch.tensor([[3.0, -1.0, 0.0]])).item() == 0.0
    assert sorted_posterior_divergence(torch.zeros((0, 3))).item() == 0.0


def test_ppb_with_lambda_zero_takes_exactly_the_base_step():
    base = one_step(NoDefense(MEMBERS))
    assert same_weights(one_step(baseline("ppb", {"lambda": 0})), base)
    # With lambda > 0 the sorted-posterior term moves the weights elsewhere.
    assert not same_weights(one_step(baseline("ppb", {"lambda": 4})), base)


def test_ppb_step_descends_ce_plus_lambda_times_divergence():
    model, reference = tiny_model(), tiny_model()
    inputs, targets = FEATURES[:12], LABELS[:12]
    defense = PPB(context(), baseline("ppb", {"lambda": 3}).config)
    defense.train_step(model, inputs, targets, torch.optim.SGD(model.parameters(), lr=1.0), ALL, 0)
    logits = reference(inputs)
    loss = nn.functional.cross_entropy(logits, targets) + 3 * sorted_posterior_divergence(logits)
    gradients = torch.autograd.grad(loss, list(reference.parameters()))
    assert_moved_by(model, reference, gradients)


# ----------------------------------------------------------------------------- DP-SGD


def autograd_example_gradients(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-example gradients the slow way: one backward pass per example."""
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    rows = []
    for i in range(len(inputs)):
        loss = nn.functional.cross_entropy(model(inputs[i : i + 1]), targets[i : i + 1])
        rows.append(torch.autograd.grad(loss, [dict(model.named_parameters())[n] for n in names]))
    return {name: torch.stack([row[k] for row in rows]) for k, name in enumerate(names)}


def test_per_example_gradients_match_one_backward_pass_per_example():
    model, inputs, targets = tiny_model(), FEATURES[:7], LABELS[:7]
    fast = per_example_gradients(model, inputs, targets)
    slow = autograd_example_gradients(model, inputs, targets)
    assert set(fast) == set(slow) == {name for name, _ in model.named_parameters()}
    for name in slow:
        assert fast[name].shape == (7, *dict(model.named_parameters())[name].shape)
        torch.testing.assert_close(fast[name], slow[name], atol=1e-6, rtol=1e-5)


def test_per_example_gradients_see_through_pruning_masks():
    model, inputs, targets = tiny_model(), FEATURES[:7], LABELS[:7]
    prune_to_sparsity(model, 0.5)
    fast = per_example_gradients(model, inputs, targets)
    slow = autograd_example_gradients(model, inputs, targets)
    # The trainable tensors of a pruned layer are ``weight_orig``; the mask is a buffer.
    assert {"net.1.weight_orig", "net.3.weight_orig"} <= set(fast)
    for name in slow:
        torch.testing.assert_close(fast[name], slow[name], atol=1e-6, rtol=1e-5)
    for layer in ("net.1", "net.3"):
        mask = dict(model.named_buffers())[f"{layer}.weight_mask"]
        gradient = fast[f"{layer}.weight_orig"]
        assert (mask == 0).any() and (mask == 1).any()
        # Pruned positions get exactly zero gradient for every example; kept ones do not.
        assert torch.all(gradient[:, mask == 0] == 0)
        assert torch.any(gradient[:, mask == 1] != 0)


def clipped_by_hand(
    gradients: dict[str, torch.Tensor], max_grad_norm: float
) -> dict[str, torch.Tensor]:
    """``sum_i min(1, C / ||g_i||) g_i`` one example at a time, ``||g_i||`` over every tensor."""
    batch = len(next(iter(gradients.values())))
    total = {name: torch.zeros_like(g[0]) for name, g in gradients.items()}
    for i in range(batch):
        norm = torch.sqrt(sum(g[i].square().sum() for g in gradients.values()))
        scale = min(1.0, max_grad_norm / norm.item())
        for name, g in gradients.items():
            total[name] += scale * g[i]
    return total


def conv_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 3))


IMAGES = torch.randn((9, 1, 4, 4), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("sparsity", [0.0, 0.5])
def test_linear_fast_path_equals_clipping_per_example_gradients(sparsity):
    # The MLP path never materialises per-example gradients; its clipped sum must equal the
    # one from explicit per-example gradients, masks included. Max norm 1.5 clips some
    # examples (norms 0.9 to 2.6) and not others.
    model, inputs, targets = tiny_model(), FEATURES[:9], LABELS[:9]
    if sparsity:
        prune_to_sparsity(model, sparsity)
    gradients = per_example_gradients(model, inputs, targets)
    norms = torch.sqrt(sum(g.flatten(1).square().sum(1) for g in gradients.values()))
    assert (norms > 1.5).any() and (norms < 1.5).any()
    expected = noisy_mean(clipped_sum(gradients, 1.5), len(inputs), 1.5, 0.0)
    layers = _only_linear_layers(model)
    assert layers is not None
    summed, losses = linear_clipped_sum(model, layers, inputs, targets, 1.5)
    fast = noisy_mean(summed, len(inputs), 1.5, 0.0)
    assert set(fast) == set(expected)
    for name in expected:
        torch.testing.assert_close(fast[name], expected[name], atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(
        losses, nn.functional.cross_entropy(model(inputs), targets, reduction="none")
    )


@pytest.mark.parametrize("sparsity", [0.0, 0.5])
@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_the_step_clipped_sum_equals_clipping_autograd_gradients(kind, sparsity, monkeypatch):
    # ``clipped_gradient_sum`` is what the DP-SGD step calls. The MLP must take the Linear
    # fast path and the conv model the per-example path; each is checked against the clipped
    # sum of one autograd backward pass per example, masks included.
    if kind == "mlp":
        model, inputs, targets = tiny_model(), FEATURES[:9], LABELS[:9]
        avoided = "per_example_gradients"
    else:
        model, inputs, targets = conv_model(), IMAGES, LABELS[:9]
        avoided = "linear_clipped_sum"
    if sparsity:
        prune_to_sparsity(model, sparsity)
    reference = autograd_example_gradients(model, inputs, targets)
    norms = torch.sqrt(sum(g.flatten(1).square().sum(1) for g in reference.values()))
    clip = float(norms.median())  # clips some examples and not others
    assert (norms > clip).any() and (norms < clip).any()

    def not_this_path(*args, **kwargs):
        raise AssertionError(f"{kind} took the other path ({avoided})")

    monkeypatch.setattr(dpsgd_module, avoided, not_this_path)
    summed, losses = clipped_gradient_sum(model, inputs, targets, clip)
    expected = clipped_by_hand(reference, clip)
    assert set(summed) == set(expected) == {n for n, _ in model.named_parameters()}
    for name in expected:
        torch.testing.assert_close(summed[name], expected[name], atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        expected_losses = nn.functional.cross_entropy(model(inputs), targets, reduction="none")
    torch.testing.assert_close(losses.detach(), expected_losses)


def test_models_with_other_layers_take_the_per_example_path():
    convolutional = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    assert _only_linear_layers(convolutional) is None
    assert _only_linear_layers(tiny_model()) is not None


# Two examples' gradients over two "parameters": example 0 has norm 5 (a: 3, b: 4), example
# 1 norm 0.5, example 2 norm 0. With max_grad_norm 1, example 0 is scaled by 1/5 *as a
# whole*; clipping each parameter on its own would give a = (1, 0), b = 1 instead.
CLIP_CASE = {
    "a": torch.tensor([[3.0, 0.0], [0.3, 0.0], [0.0, 0.0]]),
    "b": torch.tensor([[4.0], [0.4], [0.0]]),
}


def test_clipping_scales_each_whole_example_gradient_to_the_norm_then_averages():
    summed = clipped_sum(CLIP_CASE, max_grad_norm=1.0)
    torch.testing.assert_close(summed["a"], torch.tensor([0.6 + 0.3, 0.0]))
    torch.testing.assert_close(summed["b"], torch.tensor([0.8 + 0.4]))
    result = noisy_mean(summed, 3, max_grad_norm=1.0, noise_multiplier=0.0)
    torch.testing.assert_close(result["a"], torch.tensor([(0.6 + 0.3) / 3, 0.0]))
    torch.testing.assert_close(result["b"], torch.tensor([(0.8 + 0.4) / 3]))


def test_an_example_above_the_norm_contributes_exactly_the_norm():
    for clip in (0.5, 1.0, 2.0):
        one = {name: g[:1] for name, g in CLIP_CASE.items()}  # norm 5
        result = clipped_sum(one, max_grad_norm=clip)
        norm = torch.sqrt(sum(g.square().sum() for g in result.values()))
        assert norm.item() == pytest.approx(clip, rel=1e-5)
        # The direction is kept: a and b stay in the ratio 3 : 4.
        assert result["a"][0].item() / result["b"][0].item() == pytest.approx(0.75)


def test_an_example_below_the_norm_is_unchanged():
    one = {name: g[1:2] for name, g in CLIP_CASE.items()}  # norm 0.5
    result = noisy_mean(clipped_sum(one, max_grad_norm=1.0), 1, 1.0, noise_multiplier=0.0)
    assert torch.equal(result["a"], one["a"][0])
    assert torch.equal(result["b"], one["b"][0])


def test_noise_std_is_multiplier_times_norm_over_batch():
    batch, clip, multiplier = 4, 3.0, 2.0
    zeros = {"w": torch.zeros((batch, 200, 250)), "b": torch.zeros((batch, 10))}

    def noisy_gradient(generator: torch.Generator) -> dict[str, torch.Tensor]:
        return noisy_mean(clipped_sum(zeros, clip), batch, clip, multiplier, generator)

    noisy = noisy_gradient(torch.Generator().manual_seed(1))
    values = torch.cat([g.flatten() for g in noisy.values()])
    assert values.std().item() == pytest.approx(multiplier * clip / batch, rel=0.01)
    assert abs(values.mean().item()) < 0.01
    # Same generator seed, same draws; another seed, other draws.
    again = noisy_gradient(torch.Generator().manual_seed(1))
    other = noisy_gradient(torch.Generator().manual_seed(2))
    assert torch.equal(again["w"], noisy["w"])
    assert not torch.equal(other["w"], noisy["w"])


def dpsgd_epsilon(epochs: int, noise_multiplier: float = 1.0, rounds: int = 1) -> float:
    """Epsilon after ``rounds`` fine-tuning runs of ``epochs`` epochs of 3 batches of 10."""
    defense = baseline("dpsgd", {"noise_multiplier": noise_multiplier, "max_grad_norm": 1.0})
    assert isinstance(defense, DPSGD)
    model = defense.prepare(tiny_model())
    config = TrainConfig(lr=0.01, batch_size=10, max_epochs=epochs)
    for _ in range(rounds):
        fit(model, FEATURES, LABELS, MEMBERS, None, config, seed=0, defense=defense, progress=False)
    summary = defense.summary()
    assert summary["delta"] == 1 / len(MEMBERS)
    return summary["epsilon"]


def test_dpsgd_epsilon_grows_with_training_and_falls_with_noise():
    assert baseline("dpsgd").summary()["epsilon"] == 0.0  # nothing spent before training
    one, two, four = dpsgd_epsilon(1), dpsgd_epsilon(2), dpsgd_epsilon(4)
    assert 0 < one < two < four
    # The accountant covers every round: two runs of 2 epochs spend as much as one of 4.
    assert dpsgd_epsilon(2, rounds=2) == pytest.approx(four, rel=1e-9)
    low, high = dpsgd_epsilon(2, 0.7), dpsgd_epsilon(2, 2.0)
    assert low > two > high


def test_dpsgd_step_uses_the_clipped_noisy_gradient():
    # With plain SGD of lr 1 the step is exactly minus the privatised gradient, drawn from
    # a generator seeded like the defense's.
    defense = baseline("dpsgd", {"noise_multiplier": 0.5, "max_grad_norm": 0.1})
    model, reference = tiny_model(), tiny_model()
    inputs, targets = FEATURES[:10], LABELS[:10]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses = defense.train_step(model, inputs, targets, optimizer, ALL, 0)
    summed = clipped_sum(per_example_gradients(reference, inputs, targets), 0.1)
    expected = noisy_mean(summed, len(inputs), 0.1, 0.5, torch.Generator().manual_seed(0))
    assert_moved_by(model, reference, expected)
    # It reports the per-sample losses it trained on (before the step), like every defense.
    torch.testing.assert_close(
        losses, nn.functional.cross_entropy(reference(inputs), targets, reduction="none").detach()
    )


def test_dpsgd_samples_batches_by_poisson_at_the_sampling_rate():
    # 300 samples, batches of 30: q = 0.1 and 10 steps an epoch. Over 400 epochs every
    # sample's inclusion rate is q (binomial sd over 4000 steps: 0.0047), batch sizes vary
    # as Binomial(300, 0.1) (sd 5.2), and a sample's inclusions are independent of another's.
    members = np.arange(300)
    defense = build_defense(
        "dpsgd", None, DefenseContext(members, np.zeros(300, dtype=np.int64), 2), "dpsgd"
    )
    generator = torch.Generator().manual_seed(0)
    samples = torch.arange(300)
    included, sizes = torch.zeros((4000, 300), dtype=torch.bool), []
    for epoch in range(400):
        batches = list(defense.batches(samples, 30, generator))
        assert len(batches) == 10
        for step, batch in enumerate(batches):
            assert len(batch.unique()) == len(batch)  # a sample at most once per batch
            included[epoch * 10 + step, batch] = True
            sizes.append(len(batch))
    assert defense.sample_rate == pytest.approx(0.1)
    rates = included.float().mean(0)
    assert (rates - 0.1).abs().max() < 0.025  # 5 sd, over 300 samples
    assert rates.mean().item() == pytest.approx(0.1, abs=0.002)
    assert np.std(sizes) == pytest.approx(np.sqrt(300 * 0.1 * 0.9), rel=0.1)
    assert min(sizes) < 20 < 40 < max(sizes)
    both = (included[:, 0] & included[:, 1]).float().mean().item()
    assert both == pytest.approx(0.01, abs=0.005)


def test_an_empty_poisson_batch_is_a_noise_only_step():
    defense = baseline("dpsgd", {"noise_multiplier": 0.5, "max_grad_norm": 0.1})
    defense.sample_rate = 10 / len(MEMBERS)  # as the loop's batches set it
    model, reference = tiny_model(), tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses = defense.train_step(model, FEATURES[:0], LABELS[:0], optimizer, ALL, 0)
    assert losses.shape == (0,) and defense.steps == 1
    zeros = {name: torch.zeros_like(p) for name, p in reference.named_parameters()}
    expected = noisy_mean(zeros, 10, 0.1, 0.5, torch.Generator().manual_seed(0))
    assert_moved_by(model, reference, expected)


def test_the_dpsgd_epsilon_agrees_with_an_independent_accountant():
    """Google's dp-accounting (its own RDP code, and a privacy-loss-distribution accountant)
    on the Poisson-sampled Gaussian mechanism: q = 0.1, sigma 1, 100 steps, delta 1e-3."""
    from dp_accounting import dp_event
    from dp_accounting.pld.pld_privacy_accountant import PLDAccountant
    from dp_accounting.rdp.rdp_privacy_accountant import RdpAccountant

    event = dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(0.1, dp_event.GaussianDpEvent(1.0)), 100
    )
    ours = epsilon_bound(1.0, 0.1, 100, 1e-3)
    rdp, pld = RdpAccountant(), PLDAccountant()
    rdp.compose(event)
    pld.compose(event)
    # Measured: 5.641 (Opacus's analysis), 5.655 (dp-accounting's RDP), 4.784 (PLD, tighter).
    assert ours == pytest.approx(rdp.get_epsilon(1e-3), rel=0.01)
    assert 0.8 * ours < pld.get_epsilon(1e-3) <= ours


def test_an_epsilon_the_accountant_cannot_bound_is_none():
    assert epsilon_bound(2.0, 0.1, 0, 1e-3) == 0.0
    assert epsilon_bound(0.02, 0.2, 1000, 1e-3) is None  # bound at the smallest order
    assert 0 < epsilon_bound(2.0, 0.1, 1000, 1e-3) < epsilon_bound(1.0, 0.1, 1000, 1e-3)


def test_an_unknown_dpsgd_scope_is_refused_by_name():
    with pytest.raises(ParameterError, match=r"dpsgd.scope must be one of"):
        baseline("dpsgd", {"scope": "dense"})
    assert baseline("dpsgd").trains_dense  # by default the epsilon covers every step
    assert not baseline("dpsgd", {"scope": "finetune"}).trains_dense


def test_dpsgd_prepare_swaps_batchnorm_and_keeps_models_without_it():
    # A tiny conv net on 1x4x4 images: BatchNorm2d over 16 positions per channel, as in the
    # project's ResNet18 (a BatchNorm1d on flat features would become a GroupNorm with one
    # value per group, which per-example gradients cannot go through).
    torch.manual_seed(0)
    with_batchnorm = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, N_CLASSES),
    )
    images = torch.randn((6, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    prepared = baseline("dpsgd").prepare(with_batchnorm)
    kinds = {type(module) for module in prepared.modules()}
    assert not any(issubclass(kind, nn.modules.batchnorm._BatchNorm) for kind in kinds)
    assert nn.GroupNorm in kinds
    assert prepared(images).shape == (6, N_CLASSES)
    # Per-example gradients are defined once BatchNorm is gone (they fail with it).
    gradients = per_example_gradients(prepared, images, LABELS[:6])
    assert gradients["4.weight"].shape == (6, N_CLASSES, 64)
    with pytest.raises(RuntimeError):
        per_example_gradients(with_batchnorm.train(), images, LABELS[:6])

    mlp = tiny_model()
    assert baseline("dpsgd").prepare(mlp) is mlp


# ----------------------------------------------------------------------------- RelaxLoss

ALPHA = 0.5


def test_relaxloss_descends_while_the_loss_is_above_alpha():
    logits = torch.zeros((4, 3))  # uniform posteriors: CE = log 3 > alpha
    targets = torch.tensor([0, 1, 2, 0])
    for epoch in (0, 1):
        loss, mode = relaxed_loss(logits, targets, ALPHA, epoch)
        assert mode == "descent"
        assert loss.item() == pytest.approx(math.log(3))


def _confident_logits() -> tuple[torch.Tensor, torch.Tensor]:
    # Three samples, two confidently right and one wrong: mean CE about 0.34 < alpha.
    logits = torch.tensor([[6.0, 0.0, 0.0], [0.0, 5.0, 1.0], [0.5, 0.0, 0.0]], requires_grad=True)
    return logits, torch.tensor([0, 1, 1])


def test_relaxloss_ascends_below_alpha_in_even_epochs():
    logits, targets = _confident_logits()
    cross_entropy = nn.functional.cross_entropy(logits, targets)
    assert cross_entropy.item() < ALPHA
    (ce_gradient,) = torch.autograd.grad(cross_entropy, logits)
    for epoch in (0, 2):
        loss, mode = relaxed_loss(logits, targets, ALPHA, epoch)
        assert mode == "ascent"
        assert loss.item() == pytest.approx(ALPHA - cross_entropy.item())
        (gradient,) = torch.autograd.grad(loss, logits)
        assert torch.equal(gradient, -ce_gradient)


def test_relaxloss_flattens_below_alpha_in_odd_epochs():
    logits, targets = _confident_logits()
    loss, mode = relaxed_loss(logits, targets, ALPHA, epoch=1)
    assert mode == "flatten"
    soft = flattened_targets(logits, targets)
    expected = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert loss.item() == pytest.approx(expected.item())
    # The soft targets are constants: the gradient is softmax - soft, averaged.
    (gradient,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(gradient, (torch.softmax(logits, 1) - soft).detach() / 3)


def test_flattened_targets_keep_the_true_probability_and_spread_the_rest():
    logits = torch.tensor(
        [
            [0.0, 1.0, 3.0, -1.0],  # true class 2, predicted 2: flattened
            [2.0, 0.0, 0.0, 0.0],  # true class 0, predicted 0: flattened
            [2.0, 0.0, 0.0, 0.0],  # true class 3, predicted 0: keeps its one-hot label
        ]
    )
    targets = torch.tensor([2, 0, 3])
    soft = flattened_targets(logits, targets)
    probability = torch.softmax(logits, dim=1)
    p0, p1 = probability[0, 2].item(), probability[1, 0].item()
    rest0, rest1 = (1 - p0) / 3, (1 - p1) / 3
    expected = torch.tensor(
        [[rest0, rest0, p0, rest0], [p1, rest1, rest1, rest1], [0.0, 0.0, 0.0, 1.0]]
    )
    torch.testing.assert_close(soft, expected)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(3))
    assert not soft.requires_grad


def test_relaxloss_keeps_the_training_loss_near_alpha():
    # Plain CE drives the loss of 12 separable samples towards 0; RelaxLoss stops near alpha.
    inputs, targets = FEATURES[:12], LABELS[:12]

    def train(defense: Defense) -> float:
        model = tiny_model()
        optimizer = make_optimizer(list(model.parameters()), TrainConfig(lr=0.05, weight_decay=0))
        for step in range(300):
            defense.train_step(model, inputs, targets, optimizer, ALL, epoch=step // 10)
        return nn.functional.cross_entropy(model(inputs), targets).item()

    assert train(NoDefense(MEMBERS)) < 0.05
    assert 0.5 * ALPHA < train(baseline("relaxloss", {"alpha": ALPHA})) < 2 * ALPHA


# ----------------------------------------------------------------------------- HAMP


def test_label_entropy_by_hand():
    assert label_entropy(0.5, 2) == pytest.approx(math.log(2))
    assert label_entropy(0.25, 4) == pytest.approx(math.log(4))
    assert label_entropy(1.0, 5) == 0.0
    assert label_entropy(0.6, 3) == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.2)))


@pytest.mark.parametrize(
    ("num_classes", "gamma"), list(itertools.product([2, 3, 10, 100], [0.1, 0.5, 0.8, 0.95]))
)
def test_soft_label_confidence_is_the_largest_with_enough_entropy(num_classes, gamma):
    confidence = soft_label_confidence(num_classes, gamma)
    target = gamma * math.log(num_classes)
    entropy = label_entropy(confidence, num_classes)
    assert target <= entropy <= target + 1e-6
    assert 1 / num_classes < confidence < 1
    # Any larger confidence has too little entropy.
    assert label_entropy(confidence + 1e-6, num_classes) < target


def test_soft_label_confidence_falls_as_gamma_grows():
    confidences = [soft_label_confidence(10, gamma) for gamma in (0.2, 0.5, 0.8)]
    assert confidences == sorted(confidences, reverse=True)


def test_soft_labels_sum_to_one_with_the_true_class_on_top():
    targets = torch.tensor([2, 0, 4, 4, 1])
    labels = soft_labels(targets, 5, 0.7)
    confidence = soft_label_confidence(5, 0.7)
    torch.testing.assert_close(labels.sum(dim=1), torch.ones(5))
    assert labels.argmax(dim=1).tolist() == targets.tolist()
    torch.testing.assert_close(labels[torch.arange(5), targets], torch.full((5,), confidence))
    others = labels[nn.functional.one_hot(targets, 5) == 0]
    torch.testing.assert_close(others, torch.full_like(others, (1 - confidence) / 4))


def test_hamp_training_fits_the_soft_label_not_the_one_hot():
    # With the entropy bonus off, CE against a fixed soft label is minimised by that label:
    # the true-class probability settles at the soft-label confidence, not near 1.
    inputs, targets = FEATURES[:6], LABELS[:6]
    defense = baseline("hamp", {"gamma": 0.5, "alpha": 0.0})
    model = tiny_model()
    optimizer = make_optimizer(list(model.parameters()), TrainConfig(lr=0.05, weight_decay=0))
    for _ in range(400):
        defense.train_step(model, inputs, targets, optimizer, ALL, 0)
    true_probability = torch.softmax(model(inputs), 1)[torch.arange(6), targets]
    confidence = soft_label_confidence(N_CLASSES, 0.5)
    torch.testing.assert_close(
        true_probability.detach(), torch.full((6,), confidence), atol=0.02, rtol=0
    )


def test_random_posterior_outputs_keep_labels_and_hide_the_confidence():
    model = tiny_model()
    defense = baseline("hamp")
    defense.start(model, FEATURES, LABELS, DEV)
    wrapped = defense.inference_model(model)
    assert isinstance(wrapped, RandomPosteriorOutputs) and isinstance(defense, HAMP)
    assert (wrapped.low, wrapped.high) == (FEATURES.min().item(), FEATURES.max().item())
    members, non_members = FEATURES[:10], FEATURES[30:40]
    with torch.no_grad():
        out_members, out_non_members = wrapped(members), wrapped(non_members)
        posterior = torch.softmax(model(members), dim=1)
    # Valid log-probabilities that keep each query's predicted class (so its accuracy).
    torch.testing.assert_close(out_members.exp().sum(dim=1), torch.ones(10))
    assert out_members.argmax(1).tolist() == model(members).argmax(1).tolist()
    assert out_non_members.argmax(1).tolist() == model(non_members).argmax(1).tolist()
    # The whole ranking of classes is kept, not only the top one.
    assert torch.equal(out_members.argsort(dim=1), posterior.argsort(dim=1))
    # The values come from a random input drawn per position of the batch with a fixed
    # seed: a member and a non-member at the same position get the same sorted values ...
    assert torch.equal(out_members.sort(dim=1).values, out_non_members.sort(dim=1).values)
    # ... which are not the query's own posterior.
    assert not torch.allclose(out_members.exp().sort(dim=1).values, posterior.sort(dim=1).values)
    # Deterministic: asking again gives the same answer.
    assert torch.equal(wrapped(members), out_members)


# ----------------------------------------------------------------------------- AdvReg


def test_advreg_needs_dev_samples_as_reference_non_members():
    defense = baseline("advreg")
    for dev in (None, torch.zeros(0, dtype=torch.long)):
        with pytest.raises(ValueError, match="dev samples"):
            defense.start(tiny_model(), FEATURES, LABELS, dev)


def test_advreg_with_lambda_zero_takes_exactly_the_base_step():
    base = one_step(NoDefense(MEMBERS))
    assert same_weights(one_step(baseline("advreg", {"lambda": 0, "inner_steps": 3})), base)
    assert not same_weights(one_step(baseline("advreg", {"lambda": 2, "inner_steps": 3})), base)


def test_advreg_step_trains_the_attack_then_descends_ce_plus_lambda_log_h():
    defense = baseline("advreg", {"lambda": 2, "inner_steps": 3, "attack_lr": 0.01})
    assert isinstance(defense, AdversarialRegularization)
    attack_before = parameters_of(defense.attack)
    model, reference = tiny_model(), tiny_model()
    inputs, targets = FEATURES[:12], LABELS[:12]
    defense.start(model, FEATURES, LABELS, DEV)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    defense.train_step(model, inputs, targets, optimizer, ALL, 0)
    # The inner attack took its steps ...
    assert not same_weights(parameters_of(defense.attack), attack_before)
    # ... and the model step is minus the gradient of CE + lambda * mean log h(member) under
    # the attack as it stands after those steps (the model step does not move the attack).
    logits = reference(inputs)
    gain = nn.functional.logsigmoid(defense.attack(_attack_inputs(logits, targets))).mean()
    loss = nn.functional.cross_entropy(logits, targets) + 2 * gain
    gradients = torch.autograd.grad(loss, list(reference.parameters()))
    assert_moved_by(model, reference, gradients)


def test_advreg_attack_learns_to_tell_confident_members_from_references():
    # A fixed model (lr 0) that is confident on the members and unsure on the references:
    # the inner attack must learn to tell them apart from the posteriors.
    model = nn.Linear(N_CLASSES, N_CLASSES, bias=False)
    with torch.no_grad():
        model.weight.copy_(4 * torch.eye(N_CLASSES))
    labels = torch.arange(40) % N_CLASSES
    features = 2 * nn.functional.one_hot(labels, N_CLASSES).float()
    features[30:] = 0.1 * torch.randn((10, N_CLASSES), generator=torch.Generator().manual_seed(3))
    defense = AdversarialRegularization(context(), baseline("advreg", {"attack_lr": 0.01}).config)
    defense.start(model, features, labels, DEV)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    for start in range(0, 300, 10):
        rows = slice(start % 30, start % 30 + 10)
        defense.train_step(model, features[rows], labels[rows], optimizer, ALL, 0)
    with torch.no_grad():
        member = defense.attack(_attack_inputs(model(features[:30]), labels[:30]))
        reference = defense.attack(_attack_inputs(model(features[30:]), labels[30:]))
    accuracy = ((member > 0).float().mean() + (reference < 0).float().mean()) / 2
    assert accuracy.item() > 0.9
