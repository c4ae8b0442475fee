"""Tests for wemem_pipeline.core.config.validate_parameters on the real conf/base parameters."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kedro_project import CONF

from wemem_pipeline.core.config import (
    model_spec,
    pruning_config,
    split_config,
    train_config,
    validate_parameters,
)
from wemem_pipeline.core.validation import (
    ParameterError,
    require_choice,
    require_int,
    require_number,
)
from wemem_pipeline.parameters import load_parameters


@pytest.fixture
def base() -> dict[str, Any]:
    return load_parameters(CONF)


def with_value(params: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    params = copy.deepcopy(params)
    section, key = dotted.split(".")
    params[section][key] = value
    return params


def test_base_parameters_are_valid(base):
    for section in ("dataset", "split", "model", "training", "pruning", "attacks"):
        assert section in base
    validate_parameters(base)


def test_test_environment_parameters_are_valid(base):
    test_env = CONF / "test"
    if not any(test_env.glob("parameters*.yml")):
        pytest.skip("no conf/test parameters")
    validate_parameters(load_parameters(CONF, "test"))


def test_base_sections_build_the_typed_configs(base):
    assert split_config(base["split"]).num_shadows == base["split"]["num_shadows"]
    assert train_config(base["training"]).lr == base["training"]["lr"]
    assert pruning_config(base["pruning"]).sparsity == base["pruning"]["sparsity"]
    assert model_spec(base["model"]).hidden == tuple(base["model"]["hidden"])


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("pruning.sparsity", -0.1),
        ("pruning.sparsity", 1.0),
        ("pruning.rounds", 0),
        ("pruning.scope", "neuron"),
        ("dataset.name", "nope"),
        ("model.name", "nope"),
        ("split.num_shadows", 0),
        ("split.member_fraction", 1.0),
        ("training.lr", 0),
        ("training.lr", -1e-3),
        ("training.optimizer", "rmsprop"),
        ("training.batch_size", 0),
        ("training.max_epochs", 2.5),
        ("training.patience", True),  # a bool is not an integer here
    ],
)
def test_bad_value_names_the_parameter(base, dotted, value):
    with pytest.raises(ParameterError) as error:
        validate_parameters(with_value(base, dotted, value))
    message = str(error.value)
    assert dotted in message
    assert repr(value) in message  # and says what it got


def test_unknown_attack_names_the_parameter(base):
    with pytest.raises(ParameterError, match=r"attacks\.names"):
        validate_parameters(with_value(base, "attacks.names", ["conf", "nope"]))


def test_unknown_key_lists_the_known_keys(base):
    params = copy.deepcopy(base)
    params["training"]["lrate"] = 0.01  # a typo of ``lr``
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    message = str(error.value)
    assert "training" in message and "lrate" in message
    assert "known keys" in message
    for key in ("lr", "batch_size", "max_epochs", "patience", "weight_decay", "optimizer"):
        assert repr(key) in message  # "'lr'" is not a substring of "'lrate'"


@pytest.mark.parametrize("section", ["split", "model", "pruning"])
def test_unknown_key_in_other_sections(base, section):
    params = copy.deepcopy(base)
    params[section]["typo_key"] = 1
    with pytest.raises(ParameterError, match=rf"{section} has unknown keys \['typo_key'\]"):
        validate_parameters(params)


@pytest.mark.parametrize(("dotted", "value"), [("dataset.name", "file"), ("dataset.path", None)])
def test_file_dataset_needs_a_path(base, dotted, value):
    params = with_value(with_value(base, "dataset.name", "file"), dotted, value)
    with pytest.raises(ParameterError, match=r"dataset\.path"):
        validate_parameters(params)


@pytest.mark.parametrize(("key", "value"), [("seed", -1), ("seed", "0"), ("device", "tpu")])
def test_top_level_parameters(base, key, value):
    params = copy.deepcopy(base)
    params[key] = value
    with pytest.raises(ParameterError, match=key):
        validate_parameters(params)


# ----------------------------------------------------------------------------- primitives


def test_require_helpers_accept_good_values():
    assert require_int("a.b", 3, 1) == 3
    assert require_number("a.b", 0.0, 0, 1) == 0.0
    assert require_number("a.b", 1, 0, 1) == 1.0
    assert require_choice("a.b", "x", ["x", "y"]) == "x"


@pytest.mark.parametrize(
    "call",
    [
        lambda: require_int("a.b", 0, 1),
        lambda: require_int("a.b", 1.0, 1),
        lambda: require_int("a.b", True, 0),
        lambda: require_number("a.b", 0, 0, 1, low_inclusive=False),
        lambda: require_number("a.b", 1, 0, 1, high_inclusive=False),
        lambda: require_number("a.b", float("nan"), 0, 1),
        lambda: require_number("a.b", "0.5", 0, 1),
        lambda: require_choice("a.b", "z", ["x", "y"]),
    ],
)
def test_require_helpers_reject_bad_values(call):
    with pytest.raises(ParameterError, match=r"a\.b"):
        call()
