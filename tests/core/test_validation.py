"""Tests for the parameter checks: ``parameter_checks.validate_parameters`` and the typed
``RunConfig`` on the real conf/base parameters, and the primitives of ``core.validation``."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from kedro_project import CONF

from wemem_pipeline.core.datasets import DatasetConfig
from wemem_pipeline.core.memorability import MemorabilityConfig
from wemem_pipeline.core.models import ModelSpec
from wemem_pipeline.core.parameter_checks import check_attack_stored, validate_parameters
from wemem_pipeline.core.pruning import PruningConfig
from wemem_pipeline.core.run_config import RunConfig, run_config
from wemem_pipeline.core.splits import SplitConfig
from wemem_pipeline.core.threads import check_threads, thread_count
from wemem_pipeline.core.training import TrainConfig
from wemem_pipeline.core.validation import (
    ParameterError,
    check_known_keys,
    from_mapping,
    require_choice,
    require_int,
    require_number,
)
from wemem_pipeline.runs.parameters import load_parameters


def with_value(params: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    params = copy.deepcopy(params)
    section, key = dotted.split(".")
    params[section][key] = value
    return params


def test_base_parameters_are_valid(base_parameters):
    for section in ("dataset", "split", "model", "training", "pruning", "attacks"):
        assert section in base_parameters
    validate_parameters(base_parameters)


def test_test_environment_parameters_are_valid(base_parameters):
    test_env = CONF / "test"
    if not any(test_env.glob("parameters*.yml")):
        pytest.skip("no conf/test parameters")
    validate_parameters(load_parameters(CONF, "test"))


def test_base_sections_build_the_typed_configs(base_parameters):
    params = base_parameters
    config = run_config(params)
    assert config.split.num_shadows == params["split"]["num_shadows"]
    assert config.training.lr == params["training"]["lr"]
    assert config.pruning.sparsity == params["pruning"]["sparsity"]
    assert config.model.hidden == tuple(params["model"]["hidden"])
    assert config.dataset.name == params["dataset"]["name"]
    assert (config.seed, config.device) == (params["seed"], params.get("device", "auto"))
    # Each section is the dataclass ``from_mapping`` builds from it on its own.
    sections = {
        "split": SplitConfig,
        "training": TrainConfig,
        "pruning": PruningConfig,
        "model": ModelSpec,
        "memorability": MemorabilityConfig,
        "dataset": DatasetConfig,
    }
    for section, cls in sections.items():
        assert getattr(config, section) == from_mapping(cls, section, params[section]), section


def test_run_config_defaults_and_device():
    config = RunConfig(seed=3, device="cpu", training=TrainConfig(lr=0.1))
    assert config.training.lr == 0.1
    assert config.pruning == PruningConfig() and config.model == ModelSpec()
    assert config.torch_device == torch.device("cpu")
    assert RunConfig() == RunConfig(seed=0, device="auto")
    with pytest.raises(ParameterError, match="seed"):
        RunConfig(seed=-1)
    with pytest.raises(ParameterError, match="device"):
        RunConfig(device="tpu")


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
        ("model.hidden", 0),  # --params model.hidden=0: not a list
    ],
)
def test_bad_value_names_the_parameter(base_parameters, dotted, value):
    with pytest.raises(ParameterError) as error:
        validate_parameters(with_value(base_parameters, dotted, value))
    message = str(error.value)
    assert dotted in message
    assert repr(value) in message  # and says what it got


def test_unknown_attack_names_the_parameter(base_parameters):
    with pytest.raises(ParameterError, match=r"attacks\.names"):
        validate_parameters(with_value(base_parameters, "attacks.names", ["conf", "nope"]))


def test_unknown_key_lists_the_known_keys(base_parameters):
    params = copy.deepcopy(base_parameters)
    params["training"]["lrate"] = 0.01  # a typo of ``lr``
    with pytest.raises(ParameterError) as error:
        validate_parameters(params)
    message = str(error.value)
    assert "training" in message and "lrate" in message
    assert "known keys" in message
    for key in ("lr", "batch_size", "max_epochs", "patience", "weight_decay", "optimizer"):
        assert repr(key) in message  # "'lr'" is not a substring of "'lrate'"


@pytest.mark.parametrize("section", ["split", "model", "pruning", "dataset"])
def test_unknown_key_in_other_sections(base_parameters, section):
    params = copy.deepcopy(base_parameters)
    params[section]["typo_key"] = 1
    with pytest.raises(ParameterError, match=rf"{section} has unknown keys \['typo_key'\]"):
        validate_parameters(params)


@pytest.mark.parametrize(("dotted", "value"), [("dataset.name", "file"), ("dataset.path", None)])
def test_file_dataset_needs_a_path(base_parameters, dotted, value):
    params = with_value(with_value(base_parameters, "dataset.name", "file"), dotted, value)
    with pytest.raises(ParameterError, match=r"dataset\.path"):
        validate_parameters(params)


@pytest.mark.parametrize(
    ("key", "value"),
    [("seed", -1), ("seed", "0"), ("device", "tpu"), ("threads", 0), ("threads", "many")],
)
def test_top_level_parameters(base_parameters, key, value):
    params = copy.deepcopy(base_parameters)
    params[key] = value
    with pytest.raises(ParameterError, match=key):
        validate_parameters(params)


def test_unknown_top_level_keys_are_refused_with_a_guess(base_parameters):
    params = copy.deepcopy(base_parameters)
    params["prunning"] = {"sparsity": 0.5}
    with pytest.raises(
        ParameterError, match=r"unknown top-level parameters \['prunning'\]"
    ) as info:
        validate_parameters(params)
    assert info.value.hint == "did you mean 'prunning' -> 'pruning'?"
    # A scenario's section is any mapping with a defense: a new one needs no registration.
    params = copy.deepcopy(base_parameters)
    params["scenario4"] = {"name": "scenario4", "defense": "rsw", "settings": {}}
    validate_parameters(params)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_at_once():
    with pytest.raises(ParameterError, match=r"device='cuda', but torch sees no CUDA device"):
        RunConfig(device="cuda")


def test_attack_stored_section_is_checked():
    check_attack_stored(None)
    check_attack_stored({"shadows": "dense", "models": "dense_models", "file": "v.pt"})
    with pytest.raises(ParameterError, match=r"attack_stored has unknown keys \['modle'\]"):
        check_attack_stored({"modle": "victim"})
    with pytest.raises(ParameterError, match=r"attack_stored\.shadows"):
        check_attack_stored({"shadows": "nope"})
    with pytest.raises(ParameterError, match=r"attack_stored\.model"):
        check_attack_stored({"model": 3})


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


def test_check_known_keys_lists_unknown_and_known_keys():
    check_known_keys("s", {"a": 1}, ["a", "b"])
    with pytest.raises(ParameterError) as error:
        check_known_keys("a.b", {"z": 1, "a": 2, "y": 3}, ("b", "a"))
    assert str(error.value) == "a.b has unknown keys ['y', 'z']; known keys: ['a', 'b']"


@dataclass(frozen=True)
class _Settings:
    lambda_: float = 1.0
    steps: int = 2
    section: str = field(default="default", repr=False)


def test_from_mapping_builds_the_dataclass_with_its_section():
    assert from_mapping(_Settings, "x.y", None) == _Settings(section="x.y")
    built = from_mapping(_Settings, "x.y", {"lambda": 3.0, "steps": 5})
    assert (built.lambda_, built.steps, built.section) == (3.0, 5, "x.y")
    # Settings say ``lambda``; neither the field ``lambda_`` nor ``section`` is a settings key.
    for key in ("lambda_", "section"):
        with pytest.raises(ParameterError) as error:
            from_mapping(_Settings, "x.y", {key: 1})
        assert str(error.value) == (
            f"x.y has unknown keys [{key!r}]; known keys: ['lambda', 'steps']"
        )
    with pytest.raises(ParameterError, match=r"x\.y must be a mapping of settings, got 3"):
        from_mapping(_Settings, "x.y", 3)


def test_threads_follow_the_size_of_the_work():
    cores = len(os.sched_getaffinity(0))
    assert thread_count("auto", "mlp") == 1
    assert thread_count("auto", "cnn") == thread_count("auto", "resnet18") == cores
    assert thread_count(3, "mlp") == 3
    assert check_threads("auto") == "auto" and check_threads(2) == 2
    for bad in (0, -1, True, 1.5, "all"):
        with pytest.raises(ParameterError, match="threads must be 'auto' or an integer >= 1"):
            check_threads(bad)
