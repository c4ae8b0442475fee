"""Nodes of the ``pruning`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wemem_pipeline.core.config import model_spec, pruning_config, train_config
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.runs import (
    ModelOutputs,
    StateDicts,
    prune_models_iteratively,
    prune_models_one_shot,
)
from wemem_pipeline.core.training import resolve_device


def prune_one_shot(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    pruning_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[StateDicts, pd.DataFrame, ModelOutputs]:
    """Prune every dense model once to the target sparsity and fine-tune it."""
    return prune_models_one_shot(
        dataset,
        splits,
        model_spec(model_params),
        dense_models,
        pruning_config(pruning_params),
        train_config(training_params),
        seed=seed,
        device=resolve_device(device),
    )


def prune_iteratively(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    pruning_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[StateDicts, pd.DataFrame, dict[int, ModelOutputs], pd.DataFrame]:
    """Prune every dense model in rounds, fine-tuning after each (Base: no defense)."""
    return prune_models_iteratively(
        dataset,
        splits,
        model_spec(model_params),
        dense_models,
        pruning_config(pruning_params),
        train_config(training_params),
        seed=seed,
        device=resolve_device(device),
    )
