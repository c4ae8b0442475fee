"""Tests for wemem_pipeline.core.ensemble: batched training of many copies of one model.

Tiny models on tiny data (random or sklearn's digits); the whole file runs in a few seconds on
2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wemem_pipeline.core.ensemble import ModelEnsemble, fit_ensemble
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.training import TrainConfig, fit, predict_logits
from wemem_pipeline.core.validation import ParameterError

CPU = torch.device("cpu")
NUM_CLASSES = 4
INPUT_SHAPE = (10,)
SPEC = ModelSpec("mlp", hidden=(32,))


def random_data(n: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian features with uniformly random labels: only memorization fits them."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn((n, *INPUT_SHAPE), generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=generator)
    return features, labels


def trained_ensemble(
    seeds: list[int],
    subsets: np.ndarray,
    config: TrainConfig,
    epochs: int,
    data: tuple[torch.Tensor, torch.Tensor],
    spec: ModelSpec = SPEC,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
) -> ModelEnsemble:
    ensemble = ModelEnsemble(spec, input_shape, num_classes, seeds, CPU)
    fit_ensemble(ensemble, *data, subsets, config, epochs=epochs, seed=0, progress=False)
    return ensemble


def own_accuracies(predictions: torch.Tensor, labels: torch.Tensor, subsets: np.ndarray):
    """Accuracy of copy k on subsets[j], as an (M, M) array: row k, column j."""
    return np.array(
        [
            [float((row[subset] == labels[subset]).float().mean()) for subset in subsets]
            for row in predictions
        ]
    )


# ----------------------------------------------------------------------------- training


def test_every_copy_memorizes_its_own_subset_and_only_that():
    features, labels = random_data(n=60)
    # The same initial weights for every copy: whatever differs afterwards comes from the data.
    subsets = np.arange(60).reshape(3, 20)
    config = TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=8)
    ensemble = trained_ensemble([7, 7, 7], subsets, config, 40, (features, labels))
    accuracy = own_accuracies(ensemble.predict_logits(features).argmax(-1), labels, subsets)
    # Random labels: a copy fits its own 20 samples and is at chance (1/4) on the others'.
    assert np.all(np.diag(accuracy) >= 0.95), accuracy
    assert np.all(accuracy[~np.eye(3, dtype=bool)] <= 0.6), accuracy


def test_copies_trained_on_different_subsets_differ():
    features, labels = random_data(n=60)
    subsets = np.arange(60).reshape(3, 20)
    config = TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=8)
    ensemble = trained_ensemble([7, 7, 7], subsets, config, 5, (features, labels))
    logits = ensemble.predict_logits(features)
    states = [ensemble.state_dict(k) for k in range(3)]
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not torch.allclose(logits[a], logits[b], atol=1e-3)
        for name in states[a]:
            assert not torch.equal(states[a][name], states[b][name]), name


def test_every_copy_has_its_own_batch_order():
    # Identical seeds and subsets: only the per-copy batch order can tell the copies apart.
    features, labels = random_data(n=60)
    subsets = np.tile(np.arange(40), (2, 1))
    config = TrainConfig(lr=1e-2, batch_size=8)
    ensemble = trained_ensemble([7, 7], subsets, config, 2, (features, labels))
    logits = ensemble.predict_logits(features)
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_full_batch_training_matches_single_model_fit_exactly(optimizer):
    # With one batch per epoch the batch order cannot matter, so every copy must follow the
    # trajectory of ``fit`` on its own: same seed, same subset, same optimizer (incl. coupled
    # weight decay). SGD also checks the gradient scale (Adam is nearly scale invariant).
    features, labels = random_data(n=60)
    rng = np.random.default_rng(1)
    subsets = np.stack([rng.choice(60, 24, replace=False) for _ in range(3)])
    seeds = [11, 12, 13]
    lr = 1e-2 if optimizer == "adam" else 1e-1
    config = TrainConfig(optimizer=optimizer, lr=lr, weight_decay=5e-3, batch_size=32)
    epochs = 15
    ensemble = trained_ensemble(seeds, subsets, config, epochs, (features, labels))
    batched = ensemble.predict_logits(features)
    for k, seed in enumerate(seeds):
        model = SPEC.build(INPUT_SHAPE, NUM_CLASSES, seed)
        single_config = TrainConfig(
            optimizer=optimizer, lr=lr, weight_decay=5e-3, batch_size=32, max_epochs=epochs
        )
        fit(model, features, labels, subsets[k], None, single_config, seed=k, progress=False)
        torch.testing.assert_close(batched[k], predict_logits(model, features), rtol=0, atol=1e-4)
        for name, value in model.state_dict().items():
            torch.testing.assert_close(ensemble.state_dict(k)[name], value, rtol=0, atol=1e-5)


def test_stop_when_fitted_stops_after_the_first_epoch_without_a_training_error():
    features, labels = random_data(n=60)
    subsets = np.arange(60).reshape(3, 20)
    config = TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=8)
    ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [7, 8, 9], CPU)
    epochs_run = fit_ensemble(
        ensemble,
        features,
        labels,
        subsets,
        config,
        epochs=200,
        seed=0,
        progress=False,
        stop_when_fitted=True,
    )
    # Random labels take tens of epochs to memorize, and then the rule stops well before 200.
    assert 5 < epochs_run < 200
    accuracy = own_accuracies(ensemble.predict_logits(features).argmax(-1), labels, subsets)
    assert np.all(np.diag(accuracy) == 1.0), accuracy
    # The same training one epoch shorter still made a mistake in its last epoch.
    shorter = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [7, 8, 9], CPU)
    assert (
        fit_ensemble(
            shorter,
            features,
            labels,
            subsets,
            config,
            epochs=epochs_run - 1,
            seed=0,
            progress=False,
            stop_when_fitted=True,
        )
        == epochs_run - 1
    )


def test_stop_when_fitted_keeps_each_copy_as_it_was_when_it_fitted():
    # Full batches (order cannot matter): each copy trained beside the others must end with
    # the weights it has when trained alone, where training stops as soon as it fits.
    features, labels = random_data(n=60)
    subsets = np.arange(60).reshape(3, 20)
    config = TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=32)

    def trained(seeds: list[int], rows: np.ndarray) -> tuple[ModelEnsemble, int]:
        ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, seeds, CPU)
        epochs = fit_ensemble(
            ensemble,
            features,
            labels,
            rows,
            config,
            epochs=300,
            seed=0,
            progress=False,
            stop_when_fitted=True,
        )
        return ensemble, epochs

    together, epochs_together = trained([7, 8, 9], subsets)
    epochs_alone = []
    for k, seed in enumerate([7, 8, 9]):
        alone, epochs = trained([seed], subsets[k : k + 1])
        epochs_alone.append(epochs)
        for name, value in alone.state_dict(0).items():
            torch.testing.assert_close(together.state_dict(k)[name], value, rtol=0, atol=1e-5)
    # The copies fit at different epochs, and training together lasts as long as the slowest.
    assert len(set(epochs_alone)) > 1 and max(epochs_alone) == epochs_together < 300


def test_without_stop_when_fitted_every_epoch_runs():
    features, labels = random_data(n=60)
    subsets = np.arange(60).reshape(3, 20)
    config = TrainConfig(lr=1e-2, weight_decay=0.0, batch_size=8)

    def epochs_run(epochs: int, stop_when_fitted: bool) -> int:
        ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [7, 8, 9], CPU)
        return fit_ensemble(
            ensemble,
            features,
            labels,
            subsets,
            config,
            epochs=epochs,
            seed=0,
            progress=False,
            stop_when_fitted=stop_when_fitted,
        )

    fitted_after = epochs_run(200, stop_when_fitted=True)
    assert epochs_run(fitted_after + 10, stop_when_fitted=False) == fitted_after + 10


@pytest.fixture(scope="module")
def digits_tensors(digits):
    return torch.as_tensor(digits.features), torch.as_tensor(digits.labels)


def test_minibatch_training_matches_single_model_fit_on_digits(digits_tensors):
    # Batch orders differ (per-copy argsort vs randperm), so trajectories differ; the
    # outcome must not. Measured over 4 draws: own-subset accuracy >= 0.99 both ways,
    # held-out accuracy 0.94-0.96 with mean gaps below 0.002, per-model agreement on the
    # held-out predictions 0.974-0.978.
    features, labels = digits_tensors
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    pool, held_out = order[:600], order[600:]
    num_models, epochs = 8, 20
    subsets = np.stack([rng.choice(pool, 420, replace=False) for _ in range(num_models)])
    seeds = list(range(100, 100 + num_models))
    spec = ModelSpec("mlp", hidden=(64, 32))
    config = TrainConfig(lr=3e-3, batch_size=64, max_epochs=epochs)
    ensemble = trained_ensemble(
        seeds, subsets, config, epochs, (features, labels), spec, (1, 8, 8), 10
    )
    batched = ensemble.predict_logits(features).argmax(-1)
    single = []
    for k, seed in enumerate(seeds):
        model = spec.build((1, 8, 8), 10, seed)
        fit(model, features, labels, subsets[k], None, config, seed=k, progress=False)
        single.append(predict_logits(model, features).argmax(-1))
    single = torch.stack(single)

    def accuracy(predictions, indices):
        return (predictions[:, indices] == labels[indices]).float().mean(1).numpy()

    batched_own = [accuracy(batched[k : k + 1], s)[0] for k, s in enumerate(subsets)]
    single_own = [accuracy(single[k : k + 1], s)[0] for k, s in enumerate(subsets)]
    assert min(batched_own) >= 0.97, batched_own
    assert min(single_own) >= 0.97, single_own
    batched_held, single_held = accuracy(batched, held_out), accuracy(single, held_out)
    assert batched_held.min() >= 0.9, batched_held
    assert abs(batched_held.mean() - single_held.mean()) <= 0.02, (batched_held, single_held)
    agreement = (batched[:, held_out] == single[:, held_out]).float().mean(1).numpy()
    assert agreement.min() >= 0.9, agreement


# ----------------------------------------------------------------------------- state and outputs


@pytest.mark.parametrize(
    ("spec", "input_shape"),
    [(SPEC, INPUT_SHAPE), (ModelSpec("cnn", width=4), (1, 8, 8))],
)
def test_state_dict_loads_into_a_built_model_and_reproduces_its_logits(spec, input_shape):
    generator = torch.Generator().manual_seed(3)
    features = torch.randn((40, *input_shape), generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (40,), generator=generator)
    subsets = np.stack([np.arange(0, 30), np.arange(10, 40), np.arange(5, 35)])
    config = TrainConfig(lr=1e-2, batch_size=8)
    ensemble = trained_ensemble(
        [0, 1, 2], subsets, config, 3, (features, labels), spec, input_shape, NUM_CLASSES
    )
    logits = ensemble.predict_logits(features)
    for k in range(3):
        state = ensemble.state_dict(k)
        assert all(value.device.type == "cpu" for value in state.values())
        model = spec.build(input_shape, NUM_CLASSES, seed=99)  # other weights, overwritten
        model.load_state_dict(state)  # strict: same keys, same shapes
        torch.testing.assert_close(predict_logits(model, features), logits[k])
    # Trained, not the initial weights: copy 0 no longer equals a fresh build with seed 0.
    fresh = spec.build(input_shape, NUM_CLASSES, seed=0)
    assert not torch.allclose(predict_logits(fresh, features), logits[0], atol=1e-4)


def test_state_dict_is_a_detached_copy():
    ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [0, 1], CPU)
    state = ensemble.state_dict(0)
    before = {name: value.clone() for name, value in state.items()}
    for value in state.values():
        assert not value.requires_grad
        value.add_(1.0)  # editing the copy must not touch the ensemble
    for name, value in ensemble.state_dict(0).items():
        torch.testing.assert_close(value, before[name])


def test_fresh_copies_equal_built_models():
    features, _ = random_data(n=12)
    ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [5, 6], CPU)
    logits = ensemble.predict_logits(features)
    for k, seed in enumerate([5, 6]):
        model = SPEC.build(INPUT_SHAPE, NUM_CLASSES, seed)
        torch.testing.assert_close(logits[k], predict_logits(model, features))


def test_predict_logits_shape_and_chunking():
    features, _ = random_data(n=50)
    ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [0, 1, 2], CPU)
    logits = ensemble.predict_logits(features, batch_size=16)  # 4 chunks, the last one short
    assert logits.shape == (3, 50, NUM_CLASSES)
    assert not logits.requires_grad
    torch.testing.assert_close(logits, ensemble.predict_logits(features, batch_size=1024))
    # The per-copy call on the same inputs gives the same logits: (M, B, ...) -> (M, B, C).
    torch.testing.assert_close(ensemble(features.expand(3, *features.shape)), logits)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "shape",
    [(2, 10), (4, 10), (10,), (3, 2, 5)],
    ids=["too-few-rows", "too-many-rows", "one-dimensional", "three-dimensional"],
)
def test_subsets_of_the_wrong_shape_raise(shape):
    features, labels = random_data(n=60)
    ensemble = ModelEnsemble(SPEC, INPUT_SHAPE, NUM_CLASSES, [0, 1, 2], CPU)
    subsets = np.arange(int(np.prod(shape))).reshape(shape)
    with pytest.raises(ValueError, match=r"subsets must have shape \(3, n\)"):
        fit_ensemble(
            ensemble, features, labels, subsets, TrainConfig(), epochs=1, seed=0, progress=False
        )


def test_batch_normalization_is_rejected():
    spec = ModelSpec("resnet18")
    with pytest.raises(ParameterError, match="batch normalization") as error:
        ModelEnsemble(spec, (3, 8, 8), NUM_CLASSES, [0], CPU)
    assert "resnet18" in str(error.value)
