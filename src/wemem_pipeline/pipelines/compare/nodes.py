"""Nodes of the ``compare`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import compare
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.outputs import ModelOutputs
from wemem_pipeline.core.reports import compare as report
from wemem_pipeline.core.reports.document import Document
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_config import RunConfig
from wemem_pipeline.core.victim_and_shadows import StateDicts
from wemem_pipeline.runs.tuned_settings import SOURCES


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
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
) -> tuple[str, Figure]:
    """The markdown summary and the privacy-utility plot with the Pareto fronts."""
    return (
        _document(comparison, metrics, dataset, compare_params, parameters).markdown(),
        report.comparison_figure(comparison),
    )


def comparison_page(
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
    compare_plot: bytes,
) -> str:
    """``report.html``: the comparison with its plot embedded."""
    document = _document(comparison, metrics, dataset, compare_params, parameters)
    return html_page(document, {"compare_plot.png": compare_plot})


def _document(
    comparison: pd.DataFrame,
    metrics: pd.DataFrame,
    dataset: Dataset,
    compare_params: dict[str, Any],
    parameters: dict[str, Any],
) -> Document:
    """The comparison's report, with every run's settings and, for ``auto`` settings, their
    autotune study."""
    prefix = "compare.defenses."
    sources = {
        path.removeprefix(prefix): source
        for path, source in parameters.get(SOURCES, {}).items()
        if path.startswith(prefix)
    }
    return report.comparison_document(
        comparison,
        dataset.name,
        int(metrics["non_members"].iloc[0]),
        compare.comparison_runs(compare_params["defenses"]),
        sources,
    )
