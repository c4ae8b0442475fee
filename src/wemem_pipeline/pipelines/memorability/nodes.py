"""Nodes of the ``memorability`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import memorability, reporting
from wemem_pipeline.core.config import memorability_config, model_spec, train_config
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.runs import derive_seed
from wemem_pipeline.core.splits import pool_samples
from wemem_pipeline.core.training import resolve_device


def _score(
    pool_name: str,
    dataset: Dataset,
    splits: pd.DataFrame,
    memorability_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    seed: int,
    device: str,
) -> pd.DataFrame:
    config = memorability_config(memorability_params)
    pool = pool_samples(splits, pool_name)
    if config.method == "import":
        path = getattr(config, f"{pool_name}_scores_path")
        return memorability.import_scores(path, pool, dataset.labels)
    estimator = {
        "feldman": memorability.feldman_scores,
        "loss_proxy": memorability.loss_proxy_scores,
    }[config.method]
    return estimator(
        dataset,
        pool,
        model_spec(model_params),
        train_config(training_params),
        config,
        seed=derive_seed(seed, "memorability", pool_name),
        device=resolve_device(device),
        description=f"{pool_name} pool {config.method}",
    )


def score_victim_pool(
    dataset: Dataset,
    splits: pd.DataFrame,
    memorability_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    seed: int,
    device: str,
) -> pd.DataFrame:
    """Mem-scores of the defender's data (victim members and held-out pool samples)."""
    return _score(
        "victim", dataset, splits, memorability_params, model_params, training_params, seed, device
    )


def score_shadow_pool(
    dataset: Dataset,
    splits: pd.DataFrame,
    memorability_params: dict[str, Any],
    model_params: dict[str, Any],
    training_params: dict[str, Any],
    seed: int,
    device: str,
) -> pd.DataFrame:
    """Mem-scores of the attacker's data, so shadows can apply the same defenses."""
    return _score(
        "shadow", dataset, splits, memorability_params, model_params, training_params, seed, device
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
        reporting.mem_histogram_figure(pools, dataset.class_names),
        reporting.mem_extremes_figure(dataset, victim_mem_scores),
    )
