"""Nodes of the ``reporting`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core.chance import victim_chance_level
from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import figures, run
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.run_checks import settings_warnings
from wemem_pipeline.core.run_config import RunConfig


def build_report(
    dataset: Dataset,
    splits: pd.DataFrame,
    dense_history: pd.DataFrame,
    one_shot_history: pd.DataFrame,
    iterative_history: pd.DataFrame,
    attack_metrics: pd.DataFrame,
    parameters: dict[str, Any],
    run_config: RunConfig,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """``report.json`` (with the warnings of its run), its model table and its round-by-round
    table."""
    history = pd.concat([dense_history, one_shot_history, iterative_history], ignore_index=True)
    report = run.build_report(
        dataset.name,
        parameters,
        history,
        attack_metrics,
        chance=victim_chance_level(dataset.labels, splits),
        warnings=settings_warnings(run_config, dataset, splits),
    )
    return report, run.report_table(report), run.rounds_table(report)


def summarize(report: dict[str, Any]) -> str:
    """The markdown summary."""
    return run.run_markdown(report)


def report_page(report: dict[str, Any], roc_plot: bytes, rounds_plot: bytes) -> str:
    """``report.html``: the summary with its plots embedded."""
    plots = {"roc_curves.png": roc_plot, "rounds.png": rounds_plot}
    return html_page(run.run_document(report), plots)


def plot(report: dict[str, Any], roc_curves: pd.DataFrame) -> tuple[Figure, Figure]:
    """Log-log ROC curves per victim model, and accuracy/leakage per prune round."""
    non_members = report["evaluation"]["non_members"]
    roc = figures.roc_figure(roc_curves, run.roc_panels(report), non_members)
    return roc, figures.rounds_figure(report)
