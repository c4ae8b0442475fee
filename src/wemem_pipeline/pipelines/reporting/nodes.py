"""Nodes of the ``reporting`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import figures, run


def build_report(
    dataset: Dataset,
    dense_history: pd.DataFrame,
    one_shot_history: pd.DataFrame,
    iterative_history: pd.DataFrame,
    attack_metrics: pd.DataFrame,
    parameters: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """``report.json`` with its model table and its round-by-round table."""
    history = pd.concat([dense_history, one_shot_history, iterative_history], ignore_index=True)
    report = run.build_report(dataset.name, parameters, history, attack_metrics)
    return report, run.report_table(report), run.rounds_table(report)


def summarize(report: dict[str, Any]) -> str:
    """The markdown summary."""
    return run.run_markdown(report)


def plot(report: dict[str, Any], roc_curves: pd.DataFrame) -> tuple[Figure, Figure]:
    """Log-log ROC curves per victim model, and accuracy/leakage per prune round."""
    return figures.roc_figure(roc_curves, run.roc_panels(report)), figures.rounds_figure(report)
