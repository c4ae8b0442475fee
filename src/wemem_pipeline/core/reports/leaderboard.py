"""The leaderboard's report: per dataset a table and a figure row, then the fronts across
datasets and what WeMem wins, loses or cannot be told apart on."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ..defenses import WEMEM_NAMES
from ..leaderboard import (
    LENSES,
    LeaderboardConfig,
    front_counts,
    paper_claim,
    wemem_verdicts,
)
from .document import Document
from .figures import PRIVACY_METRICS
from .tables import fmt
from .titles import title

LENS_TITLES = {"population": "population", "worst_case": "worst case"}


def leaderboard_document(table: pd.DataFrame, config: LeaderboardConfig) -> Document:
    """``leaderboard.md`` and ``report.html``."""
    metric = PRIVACY_METRICS[config.metric]
    document = Document("Leaderboard: every defense, every dataset")
    document.paragraph(
        f"Each dataset's newest `compare` run per seed. Population leakage is the strongest "
        f"attack's {metric} on the victim's scored pairs; worst-case leakage the strongest "
        f"attack's {metric} on the audit's {config.worst_case} (`compare.audit=true`; empty "
        "without). Over several seeds: mean [95% t interval over the seeds, cut to 0-1]; from "
        "one seed: "
        "the run's own 95% interval (bootstrap for leakage, binomial for accuracy). Fronts: no "
        "other run as accurate with less leakage, on the means; Dense, never pruned, is on "
        "neither. Time: against Base's fine-tuning in the same run. The paper's claim (WeMem "
        "beats the baselines) *holds* on a front that has WeMem runs and no baseline defense, "
        "*fails* on one with baseline defenses and no WeMem run, and is *undecided* otherwise."
    )
    document.heading("Across datasets: how often each defense is on a front")
    document.table(_counts_rows(front_counts(table)))
    document.heading("The paper's claim, per dataset")
    document.table(
        pd.DataFrame(
            [
                {"dataset": dataset}
                | {LENS_TITLES[lens]: paper_claim(rows, lens) for lens in LENSES}
                for dataset, rows in table.groupby("dataset", sort=False)
            ]
        )
    )
    verdicts = wemem_verdicts(table)
    for dataset, rows in table.groupby("dataset", sort=False):
        seeds = int(rows["seeds"].max())
        tuned = "tuned alike (`compare.tuned=true`)" if rows["tuned"].all() else "as configured"
        document.heading(f"`{dataset}` ({seeds} seed{'s' * (seeds != 1)}, settings {tuned})")
        document.table(_dataset_rows(rows))
        claims = [
            f"**The paper's claim, {LENS_TITLES[lens]}: {paper_claim(rows, lens)}** (on the "
            f"front: {', '.join(rows.loc[rows[f'front_{lens}'], 'run']) or 'nothing'})"
            for lens in LENSES
            if paper_claim(rows, lens) != "no data"
        ]
        lines = verdicts.get(str(dataset)) or ["No WeMem run in this comparison."]
        document.bullets([*claims, *lines])
        document.paragraph(f"Runs: {' '.join(sorted(set(' '.join(rows['runs']).split())))}.")
    document.figure("leaderboard.png", "Accuracy against population and worst-case leakage")
    return document


def _counts_rows(counts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "defense": counts["defense"].map(title),
            "datasets": counts["datasets"],
            "on the population front": counts["front_population"],
            "on the worst-case front": counts["front_worst_case"],
        }
    )


def _cell(rows: pd.Series, measure: str) -> str:
    if pd.isna(rows[measure]):
        return ""
    low, high = rows[f"{measure}_ci_low"], rows[f"{measure}_ci_high"]
    return f"{fmt(rows[measure])} [{fmt(low)}, {fmt(high)}]"


def _dataset_rows(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for _, row in rows.iterrows():
        fronts = [LENS_TITLES[lens] for lens in LENSES if row[f"front_{lens}"]]
        epsilon = ""
        if pd.notna(row["epsilon"]):
            epsilon = f"{row['epsilon']:.3g} ({row['epsilon_covers'] or ''})"
        out.append(
            {
                "run": row["run"],
                "test accuracy": _cell(row, "accuracy"),
                "population leakage": _cell(row, "population"),
                "worst-case leakage": _cell(row, "worst_case"),
                "on front": ", ".join(fronts),
                "time vs Base": fmt(row["time_vs_base"], 2),
                "epsilon": epsilon,
            }
        )
    return pd.DataFrame(out)


def leaderboard_figure(table: pd.DataFrame, config: LeaderboardConfig) -> Figure:
    """One row per dataset: test accuracy against population and worst-case leakage, with
    intervals, the fronts drawn as steps, WeMem in one colour and the baselines in another."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(
        len(datasets), 2, figsize=(12, 4.2 * len(datasets)), squeeze=False, layout="constrained"
    )
    metric = PRIVACY_METRICS[config.metric]
    for row_axes, dataset in zip(axes, datasets, strict=True):
        rows = table[table["dataset"] == dataset]
        for ax, lens in zip(row_axes, LENSES, strict=True):
            _panel(ax, rows, lens)
            ax.set_title(f"{dataset}: {LENS_TITLES[lens]}")
            ax.set_xlabel(f"{metric} (strongest attack)")
            ax.set_ylabel("test accuracy")
    return fig


def _panel(ax: plt.Axes, rows: pd.DataFrame, lens: str) -> None:
    shown = rows[rows[lens].notna()]
    if shown.empty:
        ax.text(0.5, 0.5, "no audit (compare.audit=true)", ha="center", transform=ax.transAxes)
        return
    for _, row in shown.iterrows():
        colour = _colour(row["defense"])
        ax.errorbar(
            row[lens],
            row["accuracy"],
            xerr=[[row[lens] - row[f"{lens}_ci_low"]], [row[f"{lens}_ci_high"] - row[lens]]],
            yerr=[
                [row["accuracy"] - row["accuracy_ci_low"]],
                [row["accuracy_ci_high"] - row["accuracy"]],
            ],
            fmt="o",
            color=colour,
            alpha=0.85,
            capsize=2,
            markeredgecolor="black" if row[f"front_{lens}"] else colour,
        )
        label = row["run"] + (f" ε={row['epsilon']:.3g}" if pd.notna(row["epsilon"]) else "")
        ax.annotate(
            label,
            (row[lens], row["accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    front = shown[shown[f"front_{lens}"]].sort_values(lens)
    ax.step(
        front[lens], front["accuracy"], where="post", color="tab:green", lw=1.5, ls="--", zorder=5
    )
    ax.legend(handles=_legend(), fontsize=7, loc="lower right")


def _colour(defense: str) -> str:
    if defense in ("dense", "base"):
        return "black"
    return "tab:blue" if defense in WEMEM_NAMES else "tab:orange"


def _legend() -> list[Any]:
    return [
        plt.Line2D([], [], marker="o", ls="", color="black", label="Dense / Base"),
        plt.Line2D([], [], marker="o", ls="", color="tab:blue", label="WeMem"),
        plt.Line2D([], [], marker="o", ls="", color="tab:orange", label="baselines"),
        plt.Line2D([], [], color="tab:green", ls="--", label="front (ringed points)"),
    ]
