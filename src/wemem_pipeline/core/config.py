"""Typed settings built from the parameter dictionaries, and the check run before any training."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from .attacks import check_attack_params
from .compare import check_compare_params
from .datasets import DATASET_NAMES
from .defenses import check_defense_settings
from .memorability import MemorabilityConfig
from .models import ModelSpec
from .pruning import PruningConfig
from .splits import SplitConfig
from .training import TrainConfig
from .validation import ParameterError, require_choice, require_int

T = TypeVar("T")
DEVICES = ("auto", "cpu", "cuda")


def from_mapping(cls: type[T], section: str, values: Mapping[str, Any] | None) -> T:
    """Build the dataclass ``cls`` from the parameter section ``section``, rejecting typos."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"{section} has unknown keys {unknown}; known keys: {sorted(known)}")
    return cls(**values)


def split_config(values: Mapping[str, Any]) -> SplitConfig:
    return from_mapping(SplitConfig, "split", values)


def train_config(values: Mapping[str, Any]) -> TrainConfig:
    return from_mapping(TrainConfig, "training", values)


def pruning_config(values: Mapping[str, Any]) -> PruningConfig:
    return from_mapping(PruningConfig, "pruning", values)


def model_spec(values: Mapping[str, Any]) -> ModelSpec:
    return from_mapping(ModelSpec, "model", values)


def memorability_config(values: Mapping[str, Any]) -> MemorabilityConfig:
    return from_mapping(MemorabilityConfig, "memorability", values)


def validate_parameters(params: Mapping[str, Any]) -> None:
    """Check every section a run uses, so bad input fails before any training starts."""
    require_int("seed", params.get("seed"), 0)
    require_choice("device", params.get("device", "auto"), DEVICES)
    dataset = params.get("dataset") or {}
    require_choice("dataset.name", dataset.get("name"), DATASET_NAMES)
    if dataset.get("name") == "file" and not dataset.get("path"):
        raise ParameterError("dataset.path must name the file to load when dataset.name is 'file'")
    split = split_config(params.get("split"))
    model_spec(params.get("model"))
    train_config(params.get("training"))
    pruning_config(params.get("pruning"))
    memorability_config(params.get("memorability"))
    check_attack_params(params.get("attacks") or {}, split.num_shadows)
    check_attack_stored(params.get("attack_stored"))
    for key, section in params.items():
        if isinstance(section, Mapping) and "defense" in section:  # a scenario's settings
            check_defense_settings(section["defense"], section.get("settings"), f"{key}.settings")
    # After the scenarios: compare reuses their settings, and a bad one is theirs to name.
    if "compare" in params:
        check_compare_params(params["compare"])


STORED_SHADOWS = ("dense", "one_shot", "iterative")


def check_attack_stored(values: Mapping[str, Any] | None) -> None:
    """The ``attack_stored`` section: which shadows, which model, which file."""
    values = dict(values or {})
    known = {"shadows", "model", "models", "file"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(f"attack_stored has unknown keys {unknown}; known: {sorted(known)}")
    require_choice("attack_stored.shadows", values.get("shadows", "iterative"), STORED_SHADOWS)
    if not isinstance(values.get("model", "victim"), str):
        raise ParameterError(f"attack_stored.model must be a model name, got {values['model']!r}")
