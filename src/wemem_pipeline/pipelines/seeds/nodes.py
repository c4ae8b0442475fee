"""Nodes that aggregate the seed branches' reports. Their keyword arguments are the branches
(``seed_4=...``), so the seeds come with the reports."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core.datasets import Dataset
from wemem_pipeline.core.reports import seeds
from wemem_pipeline.core.reports.html import html_page


def _by_seed(branches: dict[str, Any]) -> dict[int, Any]:
    return {int(name.removeprefix("seed_")): value for name, value in branches.items()}


def aggregate_reports(
    **reports: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, str, Figure]:
    """Mean ± sd over seeds of every model and attack, and the verdicts over seeds (a
    scenario's defense against Base; iterative pruning against dense)."""
    report = seeds.seeds_report(_by_seed(reports))
    table = pd.DataFrame(report["models"])
    return report, table, seeds.seeds_markdown(report), seeds.seeds_figure(report)


def aggregate_comparisons(
    dataset: Dataset, **tables: pd.DataFrame
) -> tuple[pd.DataFrame, str, Figure]:
    """Every compare run's mean ± sd over seeds and its verdicts against Base."""
    by_seed = _by_seed(tables)
    summary = seeds.comparison_seeds(by_seed)
    markdown = seeds.comparison_seeds_markdown(summary, dataset.name, list(by_seed))
    return summary, markdown, seeds.comparison_seeds_figure(summary)


def seeds_page(report: dict[str, Any], seeds_plot: bytes) -> str:
    """``report.html`` of the aggregate, its plot embedded."""
    return html_page(seeds.seeds_document(report), {"privacy_utility.png": seeds_plot})


def comparison_seeds_page(
    dataset: Dataset, compare_seeds_plot: bytes, **tables: pd.DataFrame
) -> str:
    """``report.html`` of the comparison over seeds, its plot embedded."""
    by_seed = _by_seed(tables)
    summary = seeds.comparison_seeds(by_seed)
    document = seeds.comparison_seeds_document(summary, dataset.name, list(by_seed))
    return html_page(document, {"compare_plot.png": compare_seeds_plot})
