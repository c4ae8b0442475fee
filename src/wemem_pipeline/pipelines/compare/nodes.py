"""Nodes of the ``compare`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import compare
from wemem_pipeline.core.config import model_spec, pruning_config, train_config
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.runs import ModelOutputs, StateDicts
from wemem_pipeline.core.training import resolve_device


def compare_defenses(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    dense_history: pd.DataFrame,
    dense_outputs: ModelOutputs,
    victim_mem_scores: pd.DataFrame,
    shadow_mem_scores: pd.DataFrame,
    compare_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    pruning_params: dict[str, Any],
    attack_params: dict[str, Any],
    seed: int,
    device: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Base and every defense setting of ``compare.defenses``, next to the dense victim."""
    return compare.compare_defenses(
        dataset,
        splits,
        model_spec(model_params),
        dense_models,
        pruning_config(pruning_params),
        train_config(training_params),
        {"victim": victim_mem_scores, "shadow": shadow_mem_scores},
        compare.comparison_runs(compare_params["defenses"]),
        attack_params,
        (dense_history, dense_outputs),
        seed=seed,
        device=resolve_device(device),
    )


def report_comparison(
    comparison: pd.DataFrame, metrics: pd.DataFrame, dataset: Dataset
) -> tuple[str, Figure]:
    """The markdown summary and the privacy-utility plot with the Pareto fronts."""
    non_members = int(metrics["non_members"].iloc[0])
    return (
        compare.comparison_markdown(comparison, dataset.name, non_members),
        compare.comparison_figure(comparison),
    )
