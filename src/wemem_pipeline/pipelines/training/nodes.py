"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wemem_pipeline.core.config import model_spec, train_config
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.runs import ModelOutputs, StateDicts, train_dense_models
from wemem_pipeline.core.training import resolve_device


def train_dense(
    dataset: Dataset,
    splits: pd.DataFrame,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[StateDicts, pd.DataFrame, ModelOutputs]:
    """Train the victim and the shadows; return their weights, history and logits."""
    return train_dense_models(
        dataset,
        splits,
        model_spec(model_params),
        train_config(training_params),
        seed=seed,
        device=resolve_device(device),
    )
