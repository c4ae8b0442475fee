"""Tests for wemem_pipeline.core.pruning and core.masks: schedules, magnitude masks, rounds.

Tiny models and tiny random data: every test runs in well under a second on 2 CPU cores.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from wemem_pipeline.core.masks import (
    load_pruned_state,
    measured_sparsity,
    prunable_parameters,
    pruned_count,
)
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.pruning import (
    PROCEDURES,
    PruningConfig,
    Round,
    prune_to_sparsity,
    schedule_of,
    sparsity_schedule,
    train_round,
    train_schedule,
)
from wemem_pipeline.core.training import TrainConfig, fit
from wemem_pipeline.core.validation import ParameterError

TOLERANCE = 0.005  # 0.5 percentage points of sparsity
SCOPES = ("global", "layer")

# Every layer has >= 216 weights, so rounding to whole weights stays within 1/432 < 0.5%.
MLP_SPEC = ModelSpec("mlp", hidden=(64, 32))
MLP_INPUT = (20,)
CNN_SPEC = ModelSpec("cnn", width=8)
CNN_INPUT = (3, 8, 8)
NUM_CLASSES = 10


def build(kind: str, seed: int = 0) -> nn.Module:
    if kind == "mlp":
        return MLP_SPEC.build(MLP_INPUT, NUM_CLASSES, seed)
    return CNN_SPEC.build(CNN_INPUT, NUM_CLASSES, seed)


def input_shape(kind: str) -> tuple[int, ...]:
    return MLP_INPUT if kind == "mlp" else CNN_INPUT


def tiny_data(kind: str, n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn((n, *input_shape(kind)), generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=generator)
    return features, labels


def layer_weights(model: nn.Module) -> list[torch.Tensor]:
    """The effective (masked) prunable weights, recomputed from ``weight_orig * weight_mask``."""
    weights = []
    for module, _ in prunable_parameters(model):
        if hasattr(module, "weight_mask"):
            weights.append((module.weight_orig * module.weight_mask).detach().clone())
        else:
            weights.append(module.weight.detach().clone())
    return weights


def masks(model: nn.Module) -> list[torch.Tensor]:
    return [module.weight_mask.detach().clone() for module, _ in prunable_parameters(model)]


def layer_sparsities(model: nn.Module) -> list[float]:
    return [float((w == 0).float().mean()) for w in layer_weights(model)]


def tiny_split(n: int = 48) -> dict[str, np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    return {"member": order[:32], "dev": order[32:40], "test": order[40:]}


# ----------------------------------------------------------------------------- schedule


def test_sparsity_schedule_matches_paper_values():
    schedule = sparsity_schedule(0.6, 5)
    assert len(schedule) == 5
    np.testing.assert_allclose(schedule, [0.0, 0.205, 0.368, 0.497, 0.600], rtol=0, atol=5e-4)
    assert schedule[0] == 0.0
    assert schedule[-1] == 0.6  # exactly, not approximately


def test_sparsity_schedule_is_increasing_and_geometric_in_density():
    schedule = sparsity_schedule(0.9, 4)
    assert all(a < b for a, b in zip(schedule, schedule[1:], strict=False))
    density = 1.0 - np.asarray(schedule)
    # Each round keeps the same fraction of the surviving weights.
    ratios = density[1:] / density[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    np.testing.assert_allclose(ratios[0], 0.1 ** (1 / 3), rtol=1e-12)


@pytest.mark.parametrize("target", [0.1, 0.3])
def test_sparsity_schedule_last_round_is_target_exactly_for_other_targets(target):
    assert sparsity_schedule(target, 5)[-1] == target


# ----------------------------------------------------------------------------- prune_to_sparsity


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("scope", SCOPES)
def test_cumulative_pruning_hits_each_target(kind, scope):
    model = build(kind)
    for target in sparsity_schedule(0.8, 5)[1:]:
        prune_to_sparsity(model, target, scope)
        assert abs(measured_sparsity(model) - target) <= TOLERANCE
        if scope == "layer":
            for sparsity in layer_sparsities(model):
                assert abs(sparsity - target) <= TOLERANCE


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("scope", SCOPES)
def test_pruned_weights_are_the_smallest_magnitude_ones(kind, scope):
    model = build(kind)
    original = [w.abs() for w in layer_weights(model)]
    previous = None
    for target in (0.3, 0.55, 0.75):
        prune_to_sparsity(model, target, scope)
        current = masks(model)
        # Global scope ranks all weights together, layer scope each layer on its own.
        layers = range(len(original))
        groups = [list(layers)] if scope == "global" else [[i] for i in layers]
        for group in groups:
            pruned = torch.cat([original[i][current[i] == 0] for i in group])
            kept = torch.cat([original[i][current[i] == 1] for i in group])
            assert len(pruned) > 0 and len(kept) > 0
            assert pruned.max() <= kept.min()
        if previous is not None:  # pruning only ever adds zeros
            for old, new in zip(previous, current, strict=True):
                assert torch.all(new[old == 0] == 0)
        previous = current


def test_global_scope_prunes_layers_unevenly_layer_scope_evenly():
    # Make every weight of one layer large: global ranking must spare it, layer ranking not.
    for scope, expect_even in (("global", False), ("layer", True)):
        model = build("mlp")
        with torch.no_grad():
            weight = model.net[3].weight  # the 64x32 hidden layer; the others are all < 0.25
            weight.copy_(weight.sign() * (1.0 + weight.abs()))
        # 0.4 of 3648 weights = 1459 < 1600, the weights of the two other layers together.
        prune_to_sparsity(model, 0.4, scope)
        sparsities = layer_sparsities(model)
        if expect_even:
            assert all(abs(s - 0.4) <= TOLERANCE for s in sparsities)
        else:
            assert sparsities[1] == 0.0  # the large layer keeps every weight
            assert abs(measured_sparsity(model) - 0.4) <= TOLERANCE


def test_prune_to_lower_sparsity_keeps_existing_zeros():
    model = build("mlp")
    prune_to_sparsity(model, 0.6)
    before = masks(model)
    prune_to_sparsity(model, 0.3)
    for old, new in zip(before, masks(model), strict=True):
        assert torch.equal(old, new)
    assert abs(measured_sparsity(model) - 0.6) <= TOLERANCE


def test_prune_to_sparsity_rejects_unknown_scope():
    with pytest.raises(ParameterError, match="pruning.scope"):
        prune_to_sparsity(build("mlp"), 0.5, "neuron")


def test_conv_and_linear_weights_are_prunable():
    model = build("cnn")
    kinds = [type(module) for module, _ in prunable_parameters(model)]
    assert kinds == [nn.Conv2d, nn.Conv2d, nn.Linear, nn.Linear]
    prune_to_sparsity(model, 0.5, "layer")
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(abs(float((m.weight == 0).float().mean()) - 0.5) <= TOLERANCE for m in conv)


def test_dense_model_has_zero_sparsity_and_biases_are_not_pruned():
    model = build("cnn")
    assert measured_sparsity(model) == 0.0
    prune_to_sparsity(model, 0.7)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert not hasattr(module, "bias_mask")
            assert torch.all(module.bias != 0)


# ----------------------------------------------------------------------------- fine-tuning


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("scope", SCOPES)
def test_pruned_weights_stay_zero_through_fit(kind, scope):
    model = build(kind)
    prune_to_sparsity(model, 0.6, scope)
    mask_before = masks(model)
    weights_before = layer_weights(model)
    features, labels = tiny_data(kind)
    split = tiny_split()
    config = TrainConfig(lr=1e-2, batch_size=8, max_epochs=3, patience=3)
    fit(model, features, labels, split["member"], split["dev"], config, seed=0, progress=False)

    model(features[:2])  # the forward pre-hook recomputes ``weight`` from orig and mask
    for module, _ in prunable_parameters(model):
        assert torch.all(module.weight[module.weight_mask == 0] == 0)
    for old_mask, new_mask, old, new in zip(
        mask_before, masks(model), weights_before, layer_weights(model), strict=True
    ):
        assert torch.equal(old_mask, new_mask)
        assert torch.all(new[old_mask == 0] == 0)
        assert not torch.equal(old[old_mask == 1], new[old_mask == 1])  # training did happen
    assert abs(measured_sparsity(model) - 0.6) <= TOLERANCE


def test_pruning_after_fit_ranks_by_current_weights():
    model = build("mlp")
    prune_to_sparsity(model, 0.3)
    features, labels = tiny_data("mlp")
    split = tiny_split()
    config = TrainConfig(lr=1e-2, batch_size=8, max_epochs=2, patience=2)
    fit(model, features, labels, split["member"], split["dev"], config, seed=0, progress=False)
    current = [w.abs() for w in layer_weights(model)]
    old_masks = masks(model)
    prune_to_sparsity(model, 0.6)
    new_masks = masks(model)
    newly_pruned = torch.cat(
        [c[(o == 1) & (n == 0)] for c, o, n in zip(current, old_masks, new_masks, strict=True)]
    )
    kept = torch.cat([c[n == 1] for c, n in zip(current, new_masks, strict=True)])
    assert newly_pruned.max() <= kept.min()


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_load_pruned_state_restores_masks_into_fresh_model(kind):
    source = build(kind, seed=0)
    prune_to_sparsity(source, 0.5, "global")
    prune_to_sparsity(source, 0.7, "global")
    state = copy.deepcopy(source.state_dict())
    assert any(key.endswith("weight_mask") for key in state)

    fresh = build(kind, seed=123)  # different initial weights
    loaded = load_pruned_state(fresh, state)
    assert loaded is fresh
    features, _ = tiny_data(kind, n=6)
    source.eval()
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(features), source(features), rtol=0, atol=0)
    for (a, _), (b, _) in zip(prunable_parameters(source), prunable_parameters(fresh), strict=True):
        assert torch.equal(a.weight_mask, b.weight_mask)
        assert torch.equal(a.weight == 0, b.weight == 0)
    assert abs(measured_sparsity(fresh) - 0.7) <= TOLERANCE
    assert set(fresh.state_dict()) == set(state)


def test_load_pruned_state_accepts_a_dense_state():
    source = build("mlp", seed=0)
    fresh = load_pruned_state(build("mlp", seed=1), source.state_dict())
    features, _ = tiny_data("mlp", n=4)
    with torch.no_grad():
        torch.testing.assert_close(fresh(features), source(features), rtol=0, atol=0)
    assert measured_sparsity(fresh) == 0.0


def test_load_pruned_state_is_usable_without_a_forward_pass():
    source = build("mlp", seed=0)
    prune_to_sparsity(source, 0.5)
    fresh = load_pruned_state(build("mlp", seed=1), copy.deepcopy(source.state_dict()))
    assert abs(measured_sparsity(fresh) - 0.5) <= TOLERANCE  # currently 0.0
    # Pruning further must rank by the loaded weights, like it does on the source model.
    prune_to_sparsity(source, 0.8)
    prune_to_sparsity(fresh, 0.8)
    for a, b in zip(masks(source), masks(fresh), strict=True):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- procedures


def test_schedule_of_every_procedure():
    pruning = PruningConfig(sparsity=0.7, rounds=4, epochs_per_round=2)
    training = TrainConfig(max_epochs=9)
    assert PROCEDURES == ("dense", "one_shot", "iterative")
    assert schedule_of("dense", pruning, training) == [Round(0.0, 9)]
    # One-shot: the target at once, with the whole iterative epoch budget.
    assert schedule_of("one_shot", pruning, training) == [Round(0.7, 8)]
    iterative = schedule_of("iterative", pruning, training)
    assert [r.sparsity for r in iterative] == sparsity_schedule(0.7, 4)
    assert {r.epochs for r in iterative} == {2}  # epochs_per_round, not training.max_epochs
    with pytest.raises(ParameterError, match="procedure"):
        schedule_of("gradual", pruning, training)


def test_iterative_prune_records_every_round_at_its_target():
    model = build("mlp")
    features, labels = tiny_data("mlp")
    split = tiny_split()
    pruning = PruningConfig(sparsity=0.7, rounds=4, scope="global", epochs_per_round=2)
    training = TrainConfig(lr=1e-2, batch_size=16, max_epochs=50, patience=50)
    schedule = sparsity_schedule(0.7, 4)
    rounds = train_schedule(
        model,
        features,
        labels,
        split,
        schedule_of("iterative", pruning, training),
        training,
        scope=pruning.scope,
        seed=0,
    )
    records, seen = [], []
    for record, result in rounds:  # the caller sees the model between rounds
        assert result.epochs_run >= 1
        records.append(record)
        seen.append((record.round, measured_sparsity(model)))
    assert len(records) == 4
    assert [r.round for r in records] == [0, 1, 2, 3]
    assert [r.target_sparsity for r in records] == schedule
    for record, target in zip(records, schedule, strict=True):
        assert abs(record.sparsity - target) <= TOLERANCE
        assert record.epochs_run == 2  # epochs_per_round replaces training.max_epochs
        assert 0.0 <= record.dev_accuracy <= 1.0 and 0.0 <= record.test_accuracy <= 1.0
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    for (_, sparsity), target in zip(seen, schedule, strict=True):
        assert abs(sparsity - target) <= TOLERANCE
    assert abs(measured_sparsity(model) - 0.7) <= TOLERANCE


def test_iterative_prune_layer_scope_reaches_target_per_layer():
    model = build("cnn")
    features, labels = tiny_data("cnn", n=48)
    pruning = PruningConfig(sparsity=0.6, rounds=3, scope="layer", epochs_per_round=1)
    training = TrainConfig(batch_size=16)
    schedule = schedule_of("iterative", pruning, training)
    records = list(
        train_schedule(
            model, features, labels, tiny_split(), schedule, training, scope="layer", seed=1
        )
    )
    assert len(records) == 3
    for sparsity in layer_sparsities(model):
        assert abs(sparsity - 0.6) <= TOLERANCE


def test_one_shot_prune_reaches_target_with_whole_budget():
    model = build("mlp")
    features, labels = tiny_data("mlp")
    pruning = PruningConfig(sparsity=0.7, rounds=3, epochs_per_round=2)
    training = TrainConfig(lr=1e-2, batch_size=16, max_epochs=1, patience=50)
    (round_,) = schedule_of("one_shot", pruning, training)
    record, _ = train_round(
        model, features, labels, tiny_split(), round_, training, scope=pruning.scope, seed=0
    )
    assert record.target_sparsity == 0.7
    assert abs(record.sparsity - 0.7) <= TOLERANCE
    assert abs(measured_sparsity(model) - 0.7) <= TOLERANCE
    assert record.epochs_run == 6  # rounds x epochs_per_round


def test_train_schedule_seeds_round_i_with_seed_plus_i():
    features, labels = tiny_data("mlp")
    split = tiny_split()
    training = TrainConfig(lr=1e-2, batch_size=8, patience=50)
    schedule = [Round(0.0, 2), Round(0.5, 2)]
    scheduled = build("mlp")
    records = [
        record
        for record, _ in train_schedule(
            scheduled, features, labels, split, schedule, training, scope="global", seed=7
        )
    ]
    by_hand = build("mlp")
    for index, round_ in enumerate(schedule):
        record, _ = train_round(
            by_hand,
            features,
            labels,
            split,
            round_,
            training,
            scope="global",
            seed=7 + index,
            round_index=index,
        )
        assert record.round == records[index].round == index
        assert record.dev_accuracy == records[index].dev_accuracy
    for a, b in zip(scheduled.state_dict().values(), by_hand.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # Another seed draws other batches.
    other = build("mlp")
    list(train_schedule(other, features, labels, split, schedule, training, scope="global", seed=8))
    assert not all(
        torch.equal(a, b)
        for a, b in zip(other.state_dict().values(), by_hand.state_dict().values(), strict=True)
    )


def test_pruned_count_counts_the_masked_weights():
    model = build("mlp")
    layers = [module for module, _ in prunable_parameters(model)]
    assert [pruned_count(layer) for layer in layers] == [0, 0, 0]
    prune_to_sparsity(model, 0.5, "layer")
    for layer in layers:
        assert pruned_count(layer) == round(0.5 * layer.weight.numel())
        assert pruned_count(layer) == int((layer.weight_mask == 0).sum())


@pytest.mark.parametrize(
    ("field", "value"),
    [("sparsity", -0.1), ("sparsity", 1.0), ("rounds", 1), ("scope", "x"), ("epochs_per_round", 0)],
)
def test_pruning_config_rejects_bad_values(field, value):
    with pytest.raises(ParameterError, match=f"pruning.{field}"):
        PruningConfig(**{field: value})
