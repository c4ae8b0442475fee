"""Nodes of the ``compare`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import compare
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.reports import compare as report
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.victim_and_shadows import StateDicts


def compare_defenses(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_models: StateDicts,
    dense_history: pd.DataFrame,
    dense_outputs: dict[int, ModelOutputs],
    victim_mem_scores: pd.DataFrame,
    shadow_mem_scores: pd.DataFrame,
    compare_params: dict[str, Any],
    attack_params: dict[str, Any],
    run_config: RunConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Base and every defense setting of ``compare.defenses``, next to the dense victim."""
    return compare.compare_defenses(
        dataset,
        splits,
        run_config,
        dense_models,
        (dense_history, dense_outputs),
        {"victim": victim_mem_scores, "shadow": shadow_mem_scores},
        compare.comparison_runs(compare_params["defenses"]),
        attack_params,
    )


def report_comparison(
    comparison: pd.DataFrame, metrics: pd.DataFrame, dataset: Dataset
) -> tuple[str, Figure]:
    """The markdown summary and the privacy-utility plot with the Pareto fronts."""
    non_members = int(metrics["non_members"].iloc[0])
    return (
        report.comparison_markdown(comparison, dataset.name, non_members),
        report.comparison_figure(comparison),
    )
