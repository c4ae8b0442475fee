"""Figures of the per-record risk table (:mod:`..record_risk`): does the defense protect the
memorable records, and which records are the most exposed before and after it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..datasets import Dataset
from ..record_risk import (
    BINS,
    EXPOSED_AT_FPR,
    MOST_EXPOSED,
    exposed_overlap,
    exposed_share_by_memorability,
    mem_score_position,
    mem_score_quintile,
)
from .figures import COLORS, _style, draw_sample
from .titles import title


def record_risk_figure(risk: pd.DataFrame, compared: str, reference: str = "base") -> Figure:
    """Left: each member's LiRA z-score against its mem-score percentile, ``reference`` and
    ``compared``, with the median per mem-score quintile. Right: the share of exposed members
    per mem-score quintile for every model.

    The left panel's x is the percentile, not the raw mem-score: most mem-scores tie at or
    near 0, which would stack most points, and four of the five quintile medians, on one
    vertical line."""
    fig, (scatter, bars) = plt.subplots(1, 2, figsize=(12, 4.6))
    for model in (reference, compared):
        rows = risk[risk["model"] == model]
        percentile = 100 * (mem_score_position(rows) + 0.5) / len(rows)
        scatter.scatter(percentile, rows["lira"], s=6, alpha=0.3, color=COLORS.get(model, "black"))
    # Drawn after every model's points, white-edged: thousands of points would bury them.
    centres = 100 * (np.arange(BINS) + 0.5) / BINS
    for model in (reference, compared):
        rows = risk[risk["model"] == model]
        medians = rows.groupby(mem_score_quintile(rows))["lira"].median()
        scatter.plot(
            centres[medians.index - 1],
            medians,
            "-o",
            color=COLORS.get(model, "black"),
            linewidth=2.2,
            markersize=7,
            markeredgecolor="white",
            zorder=3,
            label=f"{title(model)}: median per mem-score quintile",
        )
    _style(
        scatter,
        xlabel="mem-score percentile among the scored members (ties by sample index)",
        ylabel="LiRA z-score (higher = more exposed)",
        title="Members: exposure against memorability (points: members)",
        xlim=(0, 100),
        xticks=np.linspace(0, 100, BINS + 1),
    )
    scatter.legend(fontsize=8)

    shares = exposed_share_by_memorability(risk)
    models = risk["model"].unique().tolist()
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        rows = shares[shares["model"] == model]
        bars.bar(
            rows["quintile"] + (i - (len(models) - 1) / 2) * width,
            rows["exposed_share"],
            width=width,
            color=COLORS.get(model, "black"),
            label=title(model),
        )
    bars.axhline(
        2 * EXPOSED_AT_FPR,
        color="grey",
        linestyle=":",
        linewidth=0.8,
        label="non-members flagged (at most)",
    )
    _style(
        bars,
        xlabel="mem-score quintile of the scored members (1 = least memorable)",
        ylabel=f"share flagged by LiRA or RMIA at {EXPOSED_AT_FPR:.0%} FPR",
        title="Exposed members per memorability quintile",
        xticks=range(1, BINS + 1),
    )
    bars.legend(fontsize=8)
    fig.tight_layout()
    return fig


def exposed_records_figure(
    dataset: Dataset, risk: pd.DataFrame, compared: str, reference: str = "base"
) -> Figure:
    """The ``MOST_EXPOSED`` most exposed members under ``reference`` and under ``compared``:
    images with label, mem-score and exposure for image data, a table otherwise."""
    tops = {
        model: risk[risk["model"] == model].nsmallest(MOST_EXPOSED, "risk_rank")
        for model in (reference, compared)
    }
    shared = exposed_overlap(risk, reference, compared, MOST_EXPOSED)
    members = risk[risk["model"] == reference]["mem_score"]
    heading = (
        f"The {MOST_EXPOSED} most exposed members: {title(reference)} (left), "
        f"{title(compared)} (right); {shared} in both. Median mem-score: all members "
        f"{members.median():.2f}, "
        + ", ".join(f"{title(m)}'s {top['mem_score'].median():.2f}" for m, top in tops.items())
    )
    if not dataset.is_image:
        return _exposed_table(dataset, tops, heading)
    side = int(np.ceil(np.sqrt(MOST_EXPOSED)))
    fig, axes = plt.subplots(side, 2 * side + 1, figsize=(1.45 * (2 * side + 1), 1.6 * side))
    for column, top in enumerate(tops.values()):
        for k, record in enumerate(top.itertuples()):
            ax = axes[k // side, column * (side + 1) + k % side]
            draw_sample(ax, dataset, int(record.sample_index))
            ax.set_title(
                f"{dataset.class_names[int(record.label)]}, mem {record.mem_score:.2f}\n"
                f"FPR {record.exposure_fpr:.3f}",
                fontsize=7,
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        if not ax.images:
            ax.axis("off")
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    return fig


def _exposed_table(dataset: Dataset, tops: dict[str, pd.DataFrame], heading: str) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.3 * MOST_EXPOSED + 1.4))
    for ax, (model, top) in zip(axes, tops.items(), strict=True):
        ax.axis("off")
        cells = [
            [
                int(r.sample_index),
                dataset.class_names[int(r.label)],
                f"{r.mem_score:.3f}",
                f"{r.exposure_fpr:.3f}",
                int(r.uses_total),
            ]
            for r in top.itertuples()
        ]
        labels = ["sample", "label", "mem-score", "exposure FPR", "uses"]
        ax.table(cells, colLabels=labels, loc="center")
        ax.set_title(title(model))
    fig.suptitle(heading, fontsize=9)
    fig.tight_layout()
    return fig
