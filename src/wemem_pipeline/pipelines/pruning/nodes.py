"""Nodes of the ``pruning`` pipeline."""

from __future__ import annotations

import pandas as pd

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.victim_and_shadows import StateDicts, train_victim_and_shadows


def prune(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    run_config: RunConfig,
    procedure: str,
) -> tuple:
    """Prune every dense model (``one_shot`` or ``iterative``) with Base fine-tuning:
    weights, history, outputs per round and member reuse."""
    return train_victim_and_shadows(
        dataset,
        splits,
        run_config,
        procedure,
        start_states=dense_models,
        workers=run_config.worker_processes,
    ).artifacts()
