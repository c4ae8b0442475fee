"""Nodes of the ``data_split`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wemem_pipeline.core.config import split_config
from wemem_pipeline.core.datasets import Dataset, load_dataset
from wemem_pipeline.core.splits import split_samples


def load(dataset_params: dict[str, Any]) -> Dataset:
    """Load the dataset named by ``dataset.name`` (see the README for where files go)."""
    return load_dataset(
        dataset_params["name"],
        raw_dir=dataset_params.get("raw_dir", "data/01_raw"),
        allow_download=dataset_params.get("allow_download", False),
        path=dataset_params.get("path"),
        label_column=dataset_params.get("label_column"),
    )


def split(dataset: Dataset, split_params: dict[str, Any], seed: int) -> pd.DataFrame:
    """One row per (model, sample) with the sample's role in that model."""
    return split_samples(dataset.is_test, split_config(split_params), seed)
