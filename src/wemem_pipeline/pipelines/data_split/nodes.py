"""Nodes of the ``data_split`` pipeline."""

from __future__ import annotations

import pandas as pd

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.splits import split_samples


def load(run_config: RunConfig) -> Dataset:
    """Load the dataset named by ``dataset.name`` (see the README for where files go)."""
    return run_config.dataset.load()


def split(dataset: Dataset, run_config: RunConfig) -> pd.DataFrame:
    """One row per (model, sample) with the sample's role in that model."""
    return split_samples(dataset.is_test, run_config.split, run_config.seed)
