"""Nodes of the ``training`` pipeline."""

from __future__ import annotations

import pandas as pd

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.victim_and_shadows import train_victim_and_shadows


def train_dense(dataset: Dataset, splits: pd.DataFrame, run_config: RunConfig) -> tuple:
    """Train the victim and the shadows from scratch: weights, history, outputs, reuse."""
    return train_victim_and_shadows(
        dataset, splits, run_config, "dense", workers=run_config.worker_processes
    ).artifacts()
