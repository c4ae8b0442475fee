"""Nodes of the ``memorability`` pipeline."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import memorability
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import figures
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.splits import pool_samples


def score_pool(
    dataset: Dataset, splits: pd.DataFrame, run_config: RunConfig, pool: str
) -> pd.DataFrame:
    """Mem-scores of the ``victim`` pool (the defender's data) or the ``shadow`` pool (the
    attacker's, so shadows can apply the same defenses)."""
    return memorability.score_pool(
        dataset,
        pool_samples(splits, pool),
        pool,
        run_config.memorability,
        run_config.model,
        run_config.training,
        seed=run_config.seed,
        device=run_config.torch_device,
        workers=run_config.worker_processes,
    )


def summarize_scores(
    victim_mem_scores: pd.DataFrame, shadow_mem_scores: pd.DataFrame
) -> pd.DataFrame:
    """Distribution of the scores per pool (and per class)."""
    return memorability.score_summary({"victim": victim_mem_scores, "shadow": shadow_mem_scores})


def plot_scores(
    dataset: Dataset, victim_mem_scores: pd.DataFrame, shadow_mem_scores: pd.DataFrame
) -> tuple[Figure, Figure]:
    """Per-class histograms of both pools, and the most and least memorable victim samples."""
    pools = {"victim": victim_mem_scores, "shadow": shadow_mem_scores}
    return (
        figures.mem_histogram_figure(pools, dataset.class_names),
        figures.mem_extremes_figure(dataset, victim_mem_scores),
    )
