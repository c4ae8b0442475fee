"""Nodes of the ``attacks`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.evaluation import evaluate_stages
from wemem_pipeline.core.reporting import round_stage
from wemem_pipeline.core.runs import ModelOutputs


def attack_all_stages(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_outputs: ModelOutputs,
    one_shot_outputs: ModelOutputs,
    iterative_outputs: dict[int, ModelOutputs],
    attack_params: dict[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and ROC points of every attack on the dense, one-shot and per-round victims."""
    stages = {"dense": dense_outputs, "one_shot": one_shot_outputs}
    stages |= {round_stage(r): outputs for r, outputs in sorted(iterative_outputs.items())}
    return evaluate_stages(stages, splits, dataset.labels, attack_params, seed)
