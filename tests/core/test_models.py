"""Tests of ``model.name: custom``: a user's own ``nn.Module`` class (``tests/custom_models.py``)
built, checked against the data, pruned and trained as a batched ensemble."""

from __future__ import annotations

from typing import Any

import custom_models
import numpy as np
import pytest
import torch

from wemem_pipeline.core.ensemble import ModelEnsemble, fit_ensemble
from wemem_pipeline.core.masks import load_pruned_state, measured_sparsity
from wemem_pipeline.core.models import ModelSpec, check_model
from wemem_pipeline.core.parameter_checks import check_model_on_data, validate_parameters
from wemem_pipeline.core.pruning import prune_to_sparsity
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import ParameterError

IMAGE = (1, 8, 8)  # digits' input shape
CLASSES = 10
CPU = torch.device("cpu")


def custom(class_name: str, **kwargs: Any) -> ModelSpec:
    return ModelSpec("custom", class_path=f"custom_models:{class_name}", kwargs=kwargs)


def test_the_class_gets_the_data_shapes_it_names_and_the_kwargs():
    model = custom("TinyConvNet", channels=3).build(IMAGE, CLASSES, seed=0)
    assert isinstance(model, custom_models.TinyConvNet)
    assert (model.conv.in_channels, model.conv.out_channels) == (1, 3)
    assert model.head.out_features == CLASSES
    # A class that does not name input_shape/num_classes gets model.kwargs alone.
    model = custom("ScaledMLP", features=64, classes=CLASSES).build(IMAGE, CLASSES, seed=0)
    assert (model.body[1].in_features, model.out.out_features) == (64, CLASSES)


def test_the_seed_fixes_the_initial_weights():
    spec = custom("TinyConvNet")
    first, again, other = (spec.build(IMAGE, CLASSES, seed) for seed in (1, 1, 2))
    torch.testing.assert_close(first.state_dict(), again.state_dict(), rtol=0, atol=0)
    assert not torch.equal(first.conv.weight, other.conv.weight)


def test_custom_settings_come_from_the_parameters(base_parameters):
    base_parameters["model"] |= {
        "name": "custom",
        "class_path": "custom_models:TinyConvNet",
        "kwargs": {"channels": 2},
    }
    assert validate_parameters(base_parameters).model == custom("TinyConvNet", channels=2)
    base_parameters["model"] |= {"name": "mlp", "class_path": None, "kwargs": None}
    assert validate_parameters(base_parameters).model.kwargs == {}  # ``kwargs:`` left empty


TINY = "custom_models:TinyConvNet"
CUSTOM = {"name": "custom"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "custom"}, "model.name='custom' needs model.class_path"),
        ({"class_path": TINY}, "model.class_path is set but model.name is 'mlp'"),
        ({"kwargs": {"channels": 2}}, "model.kwargs is set but model.name is 'mlp'"),
        ({**CUSTOM, "class_path": "custom_models.TinyConvNet"}, "'package.module:ClassName'"),
        ({**CUSTOM, "class_path": 3}, "'package.module:ClassName'"),
        (
            {**CUSTOM, "class_path": "no_such_module:Net"},
            r"cannot import 'no_such_module' \(ModuleNotFound",
        ),
        (
            {**CUSTOM, "class_path": "custom_models:Nope"},
            "module 'custom_models' (.*) has no 'Nope'",
        ),
        ({**CUSTOM, "class_path": "custom_models:NotAModule"}, "it is the class NotAModule"),
        (
            {**CUSTOM, "class_path": "custom_models:not_a_class"},
            "not a torch.nn.Module subclass: it is int",
        ),
        ({**CUSTOM, "class_path": TINY, "kwargs": [2]}, "model.kwargs must be a mapping"),
        (
            {**CUSTOM, "class_path": TINY, "kwargs": {"num_classes": 3}},
            r"model.kwargs sets \['num_classes'\], which .* is given from the data",
        ),
        (
            {**CUSTOM, "class_path": TINY, "kwargs": {"chanels": 3}},
            r"model.kwargs has \['chanels'\], which the constructor of .* does not take; it "
            r"takes \['channels', 'input_shape', 'num_classes'\]",
        ),
    ],
    ids=[
        "no-class-path",
        "class-path-without-custom",
        "kwargs-without-custom",
        "no-colon",
        "not-a-string",
        "not-importable",
        "no-such-class",
        "not-a-module-class",
        "not-a-class",
        "kwargs-a-list",
        "kwargs-set-data-argument",
        "kwargs-unknown-argument",
    ],
)
def test_settings_refused_before_any_data(settings, message):
    with pytest.raises(ParameterError, match=message):
        ModelSpec(**settings)


@pytest.mark.parametrize(
    ("spec", "input_shape", "message"),
    [
        (
            custom("WrongShape"),
            IMAGE,
            r"model.class_path='custom_models:WrongShape' must return logits of shape \(2, 10\) "
            r"\(batch, num_classes\) for a batch of 2 inputs of shape \(1, 8, 8\); it returned "
            r"a tensor of shape \(2, 11\)",
        ),
        (
            custom("Refuses"),
            IMAGE,
            r"model.class_path='custom_models:Refuses': Refuses\(num_classes=10\) raised "
            r"ValueError: needs at least 20 classes, got 10",
        ),
        (custom("NoWeights"), IMAGE, "has no Linear or Conv layer"),
        (custom("LazyNet"), IMAGE, r"has lazy layers \['LazyLinear'\]"),
        (custom("TinyConvNet"), (64,), r"TinyConvNet\(input_shape=\(64,\), num_classes=10\)"),
        (
            custom("ScaledMLP", features=32, classes=CLASSES),
            IMAGE,
            r"its forward pass on a batch of shape \(2, 1, 8, 8\) raised RuntimeError",
        ),
        (custom("NonFiniteLogits"), IMAGE, r"logits \(20 of 20 values\) .* would be NaN"),
    ],
    ids=[
        "wrong-shape",
        "constructor-raises",
        "no-weights",
        "lazy-layers",
        "tabular-data",
        "forward-fails",
        "non-finite-logits",
    ],
)
def test_models_that_do_not_fit_the_data_are_refused(spec, input_shape, message):
    with pytest.raises(ParameterError, match=message) as error:
        check_model(spec, input_shape, CLASSES)
    assert error.value.hint  # what the constructor and forward pass must do


def test_models_that_fit_pass_and_leave_the_random_streams_alone():
    state = torch.get_rng_state()
    check_model(custom("TinyConvNet"), IMAGE, CLASSES)
    check_model(custom("ScaledMLP", features=64, classes=CLASSES), IMAGE, CLASSES)
    check_model(custom("NormNet"), IMAGE, CLASSES)  # alone, batch normalization is fine
    check_model(ModelSpec("cnn"), (64,), CLASSES)  # built-in models are not checked here
    assert torch.equal(torch.get_rng_state(), state)


def test_every_conv_and_linear_weight_is_pruned():
    model = custom("TinyConvNet").build(IMAGE, CLASSES, seed=0)
    prune_to_sparsity(model, 0.6)
    assert measured_sparsity(model) == pytest.approx(0.6, abs=1e-3)
    assert {"conv.weight_mask", "head.weight_mask"} <= set(model.state_dict())
    restored = load_pruned_state(custom("TinyConvNet").build(IMAGE, CLASSES, 1), model.state_dict())
    assert measured_sparsity(restored) == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize(
    "spec",
    [custom("TinyConvNet"), custom("ScaledMLP", features=64, classes=CLASSES)],
    ids=["conv-and-linear", "buffer-and-dropout"],
)
def test_custom_models_train_as_a_batched_ensemble(spec, one_thread):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(40, *IMAGE, generator=generator)
    labels = torch.randint(0, CLASSES, (40,), generator=generator)
    ensemble = ModelEnsemble(spec, IMAGE, CLASSES, [3, 4], CPU)
    subsets = np.stack([np.arange(0, 30), np.arange(10, 40)])
    config = TrainConfig(lr=1e-2, batch_size=10)
    fit_ensemble(ensemble, features, labels, subsets, config, epochs=3, seed=0, progress=False)
    logits = ensemble.predict_logits(features)
    for k in range(2):
        # Each copy is an ordinary model of the class; predictions run without dropout.
        model = spec.build(IMAGE, CLASSES, seed=0)
        model.load_state_dict(ensemble.state_dict(k))
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(features), logits[k], rtol=0, atol=1e-5)
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize(
    ("class_name", "message"),
    [
        ("NormNet", "model.class_path='custom_models:NormNet' has batch normalization"),
        ("BranchingNet", r"custom_models:BranchingNet'.*\(torch.func.vmap\)"),
    ],
    ids=["batch-normalization", "python-branch"],
)
def test_models_an_ensemble_cannot_batch_are_refused_before_training(
    base_parameters, digits, class_name, message
):
    base_parameters["model"] |= {"name": "custom", "class_path": f"custom_models:{class_name}"}
    config = validate_parameters(base_parameters)
    check_model_on_data(config, digits, ["splits", "dense_models"])  # no mem-scores: fine
    with pytest.raises(ParameterError, match=message) as error:
        check_model_on_data(config, digits, ["splits", "victim_mem_scores"])
    assert "loss_proxy" in error.value.hint
    base_parameters["memorability"]["method"] = "loss_proxy"  # one model at a time
    check_model_on_data(validate_parameters(base_parameters), digits, ["victim_mem_scores"])


def test_the_model_check_on_data_feeds_it_two_samples_of_the_data(base_parameters, digits):
    """A model finite on random inputs and infinite on the data is refused by the check on
    the data."""
    base_parameters["model"] |= {
        "name": "custom",
        "class_path": "custom_models:ScalesByPixelContrast",
    }
    config = validate_parameters(base_parameters)
    check_model(config.model, IMAGE, CLASSES)  # random inputs: finite
    with pytest.raises(ParameterError, match="returns infinite logits"):
        check_model_on_data(config, digits, [])
