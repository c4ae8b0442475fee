"""Nodes of the ``leaderboard`` pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from wemem_pipeline.core import leaderboard
from wemem_pipeline.core.leaderboard import CompareRun, LeaderboardConfig
from wemem_pipeline.core.reports import leaderboard as report
from wemem_pipeline.core.reports.html import html_page
from wemem_pipeline.core.validation import from_mapping


def rank_defenses(
    compare_runs: list[CompareRun], leaderboard_params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run of every comparison over its seeds, with the fronts; and per defense the
    datasets on whose fronts it is."""
    config = from_mapping(LeaderboardConfig, "leaderboard", leaderboard_params)
    table = leaderboard.leaderboard_table(compare_runs, config)
    return table, leaderboard.front_counts(table)


def report_leaderboard(
    table: pd.DataFrame, leaderboard_params: dict[str, Any]
) -> tuple[str, Figure]:
    """``leaderboard.md`` and ``leaderboard.png``."""
    config = from_mapping(LeaderboardConfig, "leaderboard", leaderboard_params)
    return (
        report.leaderboard_document(table, config).markdown(),
        report.leaderboard_figure(table, config),
    )


def leaderboard_page(
    table: pd.DataFrame, leaderboard_params: dict[str, Any], leaderboard_plot: bytes
) -> str:
    """``report.html``: the leaderboard with its figure embedded."""
    config = from_mapping(LeaderboardConfig, "leaderboard", leaderboard_params)
    document = report.leaderboard_document(table, config)
    return html_page(document, {"leaderboard.png": leaderboard_plot})
